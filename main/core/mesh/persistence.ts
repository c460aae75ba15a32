// What a node keeps of the network across restarts: the records and removals it knows, when it
// first joined, and the network secret's epoch (written by the caller to its state directory,
// mode 0600: it holds the current secret).

import type { Core } from './core';
import type { EpochState } from './epochs';
import type { Fact } from './invitations';
import type { MemberRecord, Removal } from './records';

export interface MeshState {
  records: MemberRecord[];
  removals: Removal[];
  /** When this node first joined (its records' `j`). */
  joined?: number;
  /** The current network secret after removals (absent at epoch 0). */
  epoch?: EpochState;
  /** Invitation facts (invitations.ts; absent when none): their keys admit a machine, like the secret. */
  invites?: Fact[];
}

/** Records and removals to keep across restarts. */
export function exportState(core: Core): MeshState {
  const records: MemberRecord[] = [];
  const removals: Removal[] = [];
  for (const m of core.members.values()) {
    if (m.removed) removals.push(m.removed);
    else if (m.rec) records.push(m.rec);
  }
  const epoch = core.epochs.export();
  const invites = core.invitations.export();
  return {
    records,
    removals,
    joined: core.addresses.joined,
    ...(epoch ? { epoch } : {}),
    ...(invites.length ? { invites } : {}),
  };
}

/** Take back what exportState() returned (each entry is checked like one from the network). */
export function importState(core: Core, state: unknown): number {
  if (typeof state !== 'object' || state === null) return 0;
  const { records, removals, joined, epoch, invites } = state as Partial<MeshState>;
  if (epoch !== undefined) core.epochs.import(epoch);
  if (Number.isSafeInteger(joined) && (joined as number) > 0 && (joined as number) < core.addresses.joined) {
    core.addresses.setJoined(joined as number);
  }
  let n = 0;
  if (Array.isArray(removals)) for (const r of removals) if (core.records.ingest(r, null, true)) n++;
  if (Array.isArray(records)) for (const r of records) if (core.records.ingest(r, null)) n++;
  core.invitations.import(invites);
  return n;
}
