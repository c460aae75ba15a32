#!/bin/sh
# Run as root through pkexec by the AppImage on its first connect (main/app/privilege.ts): installs the
# AppImage's TUN helper at a fixed path, as the packages do (root:peermesh 0750,
# cap_net_admin,cap_net_bind_service+ep; group peermesh created), with PeerMesh's own polkit action
# for that path, then starts it with the arguments it was given. From then on a connect shows
# PeerMesh's prompt (or none for a member of the group), not the system's generic one: an AppImage's
# own files sit at a mount path that changes every run, which no polkit action can name. A later
# AppImage with another helper installs again.
#   install-helper.sh SOURCE_HELPER [HELPER_ARGS...]
set -eu
SRC=${1:-}
[ $# -gt 0 ] && shift
DIR=/usr/local/lib/peermesh
DST=$DIR/peermesh-helper
ACTIONS=/usr/share/polkit-1/actions
POLICY=$ACTIONS/net.peermesh.helper-local.policy
GROUP=peermesh
case $SRC in
/*) ;;
*) echo "peermesh: install-helper: the helper's path must be absolute" >&2; exit 64 ;;
esac
if [ ! -f "$SRC" ]; then
  echo "peermesh: install-helper: no helper at $SRC" >&2
  exit 66
fi
if ! getent group "$GROUP" >/dev/null 2>&1; then
  if command -v groupadd >/dev/null 2>&1; then groupadd --system "$GROUP"; else addgroup --system "$GROUP"; fi
fi
mkdir -p "$DIR"
chown root:root "$DIR"
chmod 0755 "$DIR"
# A new file beside the old, moved over it: a running helper keeps its own. chown before setcap
# (changing the owner clears file capabilities).
cp "$SRC" "$DST.new"
chown root:"$GROUP" "$DST.new"
chmod 0750 "$DST.new"
setcap cap_net_admin,cap_net_bind_service+ep "$DST.new" 2>/dev/null || echo "peermesh: setcap failed; connects will ask for a password" >&2
mv -f "$DST.new" "$DST"
# What the app compares its own helper with (it cannot read the helper: mode 0750).
sha256sum "$DST" | cut -d' ' -f1 >"$DST.sha256.new"
chmod 0644 "$DST.sha256.new"
mv -f "$DST.sha256.new" "$DST.sha256"
if [ -d "$ACTIONS" ]; then
  cat >"$POLICY.new" <<POLICY
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE policyconfig PUBLIC "-//freedesktop//DTD PolicyKit Policy Configuration 1.0//EN"
  "http://www.freedesktop.org/standards/PolicyKit/1/policyconfig.dtd">
<!-- Installed by PeerMesh's AppImage (install-helper.sh) for the helper it installed. No
     auth_admin_keep: each start asks (docs/helper.md). -->
<policyconfig>
  <vendor>PeerMesh</vendor>
  <action id="net.peermesh.helper-local">
    <description>Create the PeerMesh network interface</description>
    <message>PeerMesh needs to create its network interface (overlay addresses and routes only). Its small helper drops all rights right after.</message>
    <icon_name>network-vpn</icon_name>
    <defaults>
      <allow_any>auth_admin</allow_any>
      <allow_inactive>auth_admin</allow_inactive>
      <allow_active>auth_admin</allow_active>
    </defaults>
    <annotate key="org.freedesktop.policykit.exec.path">$DST</annotate>
  </action>
</policyconfig>
POLICY
  chmod 0644 "$POLICY.new"
  mv -f "$POLICY.new" "$POLICY"
fi
echo "peermesh: helper installed at $DST; members of the group '$GROUP' connect without a password (sudo usermod -aG $GROUP USERNAME, then log out and in)" >&2
exec "$DST" "$@"
