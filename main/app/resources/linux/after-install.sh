#!/bin/sh
# deb/rpm post-install: give the TUN helper (and only it) CAP_NET_ADMIN, so the app and the node run
# as the user; install the polkit policy used when the capability cannot be set.
set -e
HELPER="/opt/PeerMesh/resources/peermesh-helper"
POLICY_SRC="/opt/PeerMesh/resources/polkit/net.peermesh.helper.policy"
POLICY_DST="/usr/share/polkit-1/actions/net.peermesh.helper.policy"
if [ -f "$HELPER" ]; then
  chown root:root "$HELPER"
  chmod 0755 "$HELPER"
  if command -v setcap >/dev/null 2>&1; then
    setcap cap_net_admin+ep "$HELPER" || echo "peermesh: setcap failed; the app will ask through pkexec" >&2
  else
    echo "peermesh: setcap not found (libcap2-bin); the app will ask through pkexec" >&2
  fi
fi
if [ -f "$POLICY_SRC" ] && [ -d /usr/share/polkit-1/actions ]; then
  install -m 0644 "$POLICY_SRC" "$POLICY_DST"
fi
exit 0
