// The device's table of initiation timestamps (main/core/initiation-timestamps.ts) on disk: loaded
// before the node receives its first datagram, written (0600, atomically) within a second of a change
// and when the node stops. So an initiation recorded before a restart and replayed after it is still
// refused. (A crash loses what changed in its last second.)
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InitiationTimestamps } from '../core/initiation-timestamps';
import { writeFileAtomic } from '../io/files';
import type { Logger } from './log';

export class TimestampsFile {
  readonly path: string;
  private savedVersion: number;

  constructor(
    stateDir: string,
    private readonly table: InitiationTimestamps,
    private readonly log: Logger,
  ) {
    this.path = join(stateDir, 'initiation-timestamps.json');
    this.savedVersion = table.version;
  }

  load(): void {
    if (!existsSync(this.path)) return;
    try {
      const n = this.table.import(JSON.parse(readFileSync(this.path, 'utf8')));
      this.log.debug(`loaded ${n} initiation timestamp(s) from ${this.path}`);
    } catch (e) {
      this.log.warn(`ignoring unreadable ${this.path}: ${(e as Error).message}`);
    }
    this.savedVersion = this.table.version;
  }

  /** Write the table if it changed since the last write. */
  save(): void {
    if (this.table.version === this.savedVersion) return;
    try {
      writeFileAtomic(this.path, `${JSON.stringify(this.table.export())}\n`, 0o600);
      this.savedVersion = this.table.version;
    } catch (e) {
      this.log.warn(`cannot save initiation timestamps to ${this.path}: ${(e as Error).message}`);
    }
  }
}
