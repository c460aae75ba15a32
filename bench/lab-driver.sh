#!/usr/bin/env bash
# PeerMesh driver for the shared namespace lab (../shared/lab, see its README): two headless
# `peermesh up` nodes on A and B with static peers, on the "direct" topology.
# The TUN helper each node starts is registered with the lab under the same tag, so the lab's CPU
# and peak-RSS figures include it (node + helper), not just the Node.js process.
set -euo pipefail
# The lab labels an outside driver by its file name and attributes CPU/RSS by that tag.
DRV=$(basename "${BASH_SOURCE[0]}" .sh)
source "$LAB_DIR/lib.sh"
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
D=$LAB_RUN/$DRV
PORT=51820

drv_up() {
  [[ $1 == direct ]] || { echo "peermesh: mesh NAT traversal is not implemented yet; direct topology only" >&2; return 2; }
  local h other
  for h in a b; do
    node "$REPO/bin/peermesh" keygen --out "$D/$h.key" >"$D/$h.pub"
  done
  for h in a b; do
    [[ $h == a ]] && other=b || other=a
    local ul_other ov_self ov_other
    ul_other=$(eval echo "\$UL_${other^^}"); ov_self=$(eval echo "\$OV_${h^^}"); ov_other=$(eval echo "\$OV_${other^^}")
    # shellcheck disable=SC2086  # PEERMESH_NODE_ARGS / PEERMESH_UP_ARGS are word lists on purpose
    lab_spawn "$h" "$DRV" "$D/$h.log" node ${PEERMESH_NODE_ARGS:-} "$REPO/bin/peermesh" up \
      --state-dir "$D/$h-state" --interface "pm${LAB_ID}${h}" --address "$ov_self/$OV_PREFIX" \
      --listen $PORT --private-key-file "$D/$h.key" \
      --peer "$(cat "$D/$other.pub")@$ul_other:$PORT,$ov_other/32" ${PEERMESH_UP_ARGS:-} >/dev/null
  done
  # Record each node's helper (its child) under our tag: pid starttime host tag spawn_epoch.
  local pid host st child
  while read -r pid host; do
    lab_wait 5 pgrep -P "$pid" -f peermesh-helper || continue
    child=$(pgrep -P "$pid" -f peermesh-helper | head -1)
    st=$(lab_starttime "$child")
    [[ -n $st ]] && echo "$child $st $host $DRV-helper $(lab_now)" >>"$LAB_RUN/pids"
  done < <(lab_pids "$DRV")
}

drv_down() { lab_kill_tag "$DRV"; }
drv_version() { echo "peermesh $(node "$REPO/bin/peermesh" version | awk '{print $2}'), node $(node --version)"; }

lab_driver_main "$@"
