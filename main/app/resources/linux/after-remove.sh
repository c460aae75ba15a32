#!/bin/sh
# deb/rpm post-remove: take the polkit policy away again (the helper went with the package). Not on
# an upgrade: rpm runs the old package's script ($1 = 1) after the new one's post-install, and deb
# calls it with "upgrade". On a deb purge the group and an empty /etc/peermesh go too; allow files
# an administrator wrote stay.
case "$1" in
  upgrade | failed-upgrade | abort-install | abort-upgrade | disappear | 1) exit 0 ;;
esac
rm -f /usr/share/polkit-1/actions/net.peermesh.helper.policy
if [ "$1" = "purge" ]; then
  rmdir /etc/peermesh 2>/dev/null || true
  if getent group peermesh >/dev/null 2>&1; then
    groupdel peermesh 2>/dev/null || delgroup --system peermesh 2>/dev/null || true
  fi
fi
exit 0
