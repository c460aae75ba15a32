#!/bin/sh
# deb/rpm post-remove: take the polkit policy away again (the helper went with the package).
rm -f /usr/share/polkit-1/actions/net.peermesh.helper.policy
exit 0
