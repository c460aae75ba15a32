#!/usr/bin/env bash
# PeerMesh driver for the shared namespace lab (../shared/lab, see its README).
# - direct: two headless `peermesh up` nodes on A and B with static peers (the throughput bench).
# - nat: a mesh network: P (public, --relay) starts it, A and B (each behind its NAT router) join
#   through P with only the network name, secret and P's address, and find their path to each other
#   (direct through two cone NATs, relayed via P through symmetric ones). Overlay addresses are the
#   mesh's own (derived from each key): `addr` prints them.
# The TUN helper each node starts is registered with the lab under the same tag, so the lab's CPU
# and peak-RSS figures include it (node + helper), not just the Node.js process.
# Nodes start without NODE_EXTRA_CA_CERTS: this build machine's shell sets it (for its npm proxy) and
# Node 20 parses that certificate bundle at every start (~90 ms of CPU here); PeerMesh opens no TLS
# connection, and a node started by systemd or the app does not have it.
set -euo pipefail
# The lab labels an outside driver by its file name and attributes CPU/RSS by that tag.
DRV=$(basename "${BASH_SOURCE[0]}" .sh)
source "$LAB_DIR/lib.sh"
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
D=$LAB_RUN/$DRV
PORT=51820

drv_up() {
  # nat: `up` returns once the nodes are spawned, like the lab's own drivers (the NAT check pings
  # from then on); their helpers are registered meanwhile (only the bench's CPU/RSS figures use it).
  if [[ $1 == nat ]]; then mesh_up; (register_helpers &); return; fi
  local h other
  for h in a b; do
    node "$REPO/bin/peermesh" keygen --out "$D/$h.key" >"$D/$h.pub"
  done
  for h in a b; do
    [[ $h == a ]] && other=b || other=a
    local ul_other ov_self ov_other
    ul_other=$(eval echo "\$UL_${other^^}"); ov_self=$(eval echo "\$OV_${h^^}"); ov_other=$(eval echo "\$OV_${other^^}")
    # shellcheck disable=SC2086  # PEERMESH_NODE_ARGS / PEERMESH_UP_ARGS are word lists on purpose
    lab_spawn "$h" "$DRV" "$D/$h.log" env -u NODE_EXTRA_CA_CERTS node ${PEERMESH_NODE_ARGS:-} "$REPO/bin/peermesh" up \
      --state-dir "$D/$h-state" --interface "pm${LAB_ID}${h}" --address "$ov_self/$OV_PREFIX" \
      --listen $PORT --private-key-file "$D/$h.key" \
      --peer "$(cat "$D/$other.pub")@$ul_other:$PORT,$ov_other/32" ${PEERMESH_UP_ARGS:-} >/dev/null
  done
  register_helpers
}

# nat topology: a mesh through P. Keys are made before the first spawn (not counted in the timing).
mesh_up() {
  local h
  printf 'peermesh lab network secret\n' >"$D/secret"
  chmod 600 "$D/secret"
  for h in p a b; do
    node "$REPO/bin/peermesh" keygen --out "$D/$h.key" >/dev/null
    node "$REPO/bin/peermesh" address --network lab --secret-file "$D/secret" --private-key-file "$D/$h.key" |
      head -1 >"$D/$h.addr"
  done
  for h in p a b; do
    local extra=(--bootstrap "$UL_P:$PORT")
    [[ $h == p ]] && extra=(--relay)
    # shellcheck disable=SC2086
    lab_spawn "$h" "$DRV" "$D/$h.log" env -u NODE_EXTRA_CA_CERTS node ${PEERMESH_NODE_ARGS:-} "$REPO/bin/peermesh" up \
      --state-dir "$D/$h-state" --interface "pm${LAB_ID}${h}" --listen $PORT --name "$h" \
      --private-key-file "$D/$h.key" --network lab --secret-file "$D/secret" --hosts-file none \
      "${extra[@]}" ${PEERMESH_UP_ARGS:-} >/dev/null
  done
}

register_helpers() {
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
drv_addr() {
  if [[ $LAB_TOPO == nat ]]; then cat "$D/$1.addr"; else eval echo "\$OV_${1^^}"; fi
}
drv_version() { echo "peermesh $(node "$REPO/bin/peermesh" version | awk '{print $2}'), node $(node --version)"; }

lab_driver_main "$@"
