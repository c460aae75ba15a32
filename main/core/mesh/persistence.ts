// What a node keeps of the network across restarts: the records and removals it knows, and when it
// first joined (written by the caller to its state directory, mode 0600).

import type { Core } from './core';
import type { MemberRecord, Removal } from './records';

export interface MeshState {
  records: MemberRecord[];
  removals: Removal[];
  /** When this node first joined (its records' `j`). */
  joined?: number;
}

/** Records and removals to keep across restarts. */
export function exportState(core: Core): MeshState {
  const records: MemberRecord[] = [];
  const removals: Removal[] = [];
  for (const m of core.members.values()) {
    if (m.removed) removals.push(m.removed);
    else if (m.rec) records.push(m.rec);
  }
  return { records, removals, joined: core.addresses.joined };
}

/** Take back what exportState() returned (each entry is checked like one from the network). */
export function importState(core: Core, state: unknown): number {
  if (typeof state !== 'object' || state === null) return 0;
  const { records, removals, joined } = state as Partial<MeshState>;
  if (Number.isSafeInteger(joined) && (joined as number) > 0 && (joined as number) < core.addresses.joined) {
    core.addresses.setJoined(joined as number);
  }
  let n = 0;
  if (Array.isArray(removals)) for (const r of removals) if (core.records.ingest(r, null, true)) n++;
  if (Array.isArray(records)) for (const r of records) if (core.records.ingest(r, null)) n++;
  return n;
}
