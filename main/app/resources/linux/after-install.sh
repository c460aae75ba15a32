#!/bin/sh
# deb/rpm post-install: give the TUN helper (and only it) CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (the
# latter only for the DNS responder's port 53 on the helper's own device addresses: the helper refuses
# any other bind), and let only the members of the group "peermesh" start it (mode 0750 root:peermesh): a local user outside the group cannot run
# it at all, and a member gets only what the helper's own policy allows a caller that is not root
# (overlay addresses and routes; other routes and forwarded subnets only as listed by root in
# /etc/peermesh/route.allow and /etc/peermesh/forward.allow — docs/helper.md). Installs the polkit
# policy used when the capability cannot be set.
set -e
HELPER="/opt/PeerMesh/resources/peermesh-helper"
GROUP="peermesh"
POLICY_SRC="/opt/PeerMesh/resources/polkit/net.peermesh.helper.policy"
POLICY_DST="/usr/share/polkit-1/actions/net.peermesh.helper.policy"
if ! getent group "$GROUP" >/dev/null 2>&1; then
  if command -v groupadd >/dev/null 2>&1; then
    groupadd --system "$GROUP"
  else
    addgroup --system "$GROUP"
  fi
fi
# The policy directory: root's to write (the helper refuses allow files anyone else could change).
mkdir -p /etc/peermesh
chown root:root /etc/peermesh
chmod 0755 /etc/peermesh
if [ -f "$HELPER" ]; then
  # chown first: changing the owner clears file capabilities.
  chown root:"$GROUP" "$HELPER"
  chmod 0750 "$HELPER"
  if command -v setcap >/dev/null 2>&1; then
    setcap cap_net_admin,cap_net_bind_service+ep "$HELPER" || echo "peermesh: setcap failed; the app will ask through pkexec" >&2
  else
    echo "peermesh: setcap not found (libcap2-bin); the app will ask through pkexec" >&2
  fi
fi
if [ -f "$POLICY_SRC" ] && [ -d /usr/share/polkit-1/actions ]; then
  install -m 0644 "$POLICY_SRC" "$POLICY_DST"
fi
echo "peermesh: only members of the group '$GROUP' can connect without an administrator password."
echo "peermesh: add a user with: sudo usermod -aG $GROUP USERNAME  (then that user logs out and in again)"
exit 0
