// The one per-second ring every metrics series is stored in, and the window arithmetic its readers
// share. Sans-IO: nothing here reads a clock; times come in as `now`, in milliseconds (wall-clock
// ms are the natural choice, since series report unix seconds).
//
// A ring is a set of typed-array columns of HISTORY_SECONDS slots, allocated once: slot
// `second % HISTORY_SECONDS` holds the data of that second and is stamped with it (stamp =
// second + 1, so 0 means "never written"). A slot whose stamp is not the second being written or
// read is stale (data from a multiple of HISTORY_SECONDS ago, or never written): readers skip it
// and writers reset every column of it, lazily, before use. Nothing is appended anywhere, so memory
// does not grow with uptime.
//
// Time may go backwards a little (a sample reported out of order lands in its own second), but a
// write more than HISTORY_SECONDS older than the newest one is refused instead of overwriting newer
// data. Invalid times make writers return -1 (the data path must not throw); queries throw a
// RangeError on an invalid window, point count or time: those are programming errors.

/** Seconds of history kept, one slot per second. */
export const HISTORY_SECONDS = 3600;

const N = HISTORY_SECONDS;
/** Largest second whose stamp (second + 1) still fits in a Uint32 slot: early 2106. */
const MAX_SECOND = 0xffff_fffe;

/** A column of the ring: one value per second. */
export type Column = Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;

/** The second `now` (ms) falls in, or -1 when `now` is unusable. */
export function secondOf(now: number): number {
  if (!Number.isFinite(now) || now < 0) return -1;
  const s = Math.floor(now / 1000);
  return s <= MAX_SECOND ? s : -1;
}

/** A count, size or duration a record method accepts: finite and not negative. */
export function isCount(v: number): boolean {
  return Number.isFinite(v) && v >= 0;
}

/** The window of a query: the `w` seconds ending with the second `now` falls in. */
export interface QueryWindow {
  /** Length in seconds. */
  w: number;
  /** The second `now` falls in (the window's last). */
  nowSec: number;
  /** The window's first second (may be negative for a `now` close to 1970). */
  start: number;
}

/** The window of `windowSec` seconds ending at `now`; a RangeError when either is invalid. */
export function queryWindow(now: number, windowSec: number): QueryWindow {
  if (!Number.isInteger(windowSec) || windowSec < 1 || windowSec > N) {
    throw new RangeError(`metrics: window must be an integer number of seconds in 1..${N}, got ${windowSec}`);
  }
  const nowSec = secondOf(now);
  if (nowSec < 0) throw new RangeError(`metrics: invalid time ${now}`);
  return { w: windowSec, nowSec, start: nowSec - windowSec + 1 };
}

/**
 * Calls `bucket(from, to)` once per point of a graph of the window: one per second, or, when
 * `maxPoints` is smaller than the window, exactly `maxPoints` points, point k covering the seconds
 * [from, to) = start + [floor(k * w / maxPoints), floor((k + 1) * w / maxPoints)) (bucket sizes
 * differ by at most one second). A RangeError when `maxPoints` is not a positive integer.
 */
export function forEachBucket(
  win: QueryWindow,
  maxPoints: number | undefined,
  bucket: (from: number, to: number) => void,
): void {
  const { w, start } = win;
  let points = w;
  if (maxPoints !== undefined) {
    if (!Number.isInteger(maxPoints) || maxPoints < 1) {
      throw new RangeError(`metrics: maxPoints must be a positive integer, got ${maxPoints}`);
    }
    points = Math.min(maxPoints, w);
  }
  for (let k = 0; k < points; k++) {
    bucket(start + Math.floor((k * w) / points), start + Math.floor(((k + 1) * w) / points));
  }
}

/** A ring's contents (SecondRing.dump): structured-clonable, so it can cross a worker boundary. */
export interface RingDump {
  stamp: Uint32Array;
  columns: Column[];
  latestSec: number;
}

/** The per-second ring: stamps plus the columns registered with `column()`. */
export class SecondRing {
  private readonly stamp = new Uint32Array(N);
  private readonly columns: Column[] = [];
  private readonly empty: number[] = [];
  /** Newest second written, -1 before the first write. */
  private latestSec = -1;

  /** Registers `a` (HISTORY_SECONDS long) as a column whose fresh slots hold `empty`; returns it. */
  column<T extends Column>(a: T, empty = 0): T {
    if (a.length !== N) throw new RangeError(`metrics: a ring column has ${N} slots, got ${a.length}`);
    a.fill(empty);
    this.columns.push(a);
    this.empty.push(empty);
    return a;
  }

  /** Bytes of the stamps and every column. */
  get byteLength(): number {
    let total = this.stamp.byteLength;
    for (const c of this.columns) total += c.byteLength;
    return total;
  }

  /** A copy of the ring's contents (see load). */
  dump(): RingDump {
    return {
      stamp: this.stamp.slice(),
      columns: this.columns.map((c) => c.slice()),
      latestSec: this.latestSec,
    };
  }

  /**
   * Takes over the contents of a dump() of a ring with the same columns (same types, same order);
   * false, and nothing changed, when `d` does not fit.
   */
  load(d: RingDump): boolean {
    if (!d || !(d.stamp instanceof Uint32Array) || d.stamp.length !== N) return false;
    if (!Array.isArray(d.columns) || d.columns.length !== this.columns.length) return false;
    if (!Number.isInteger(d.latestSec) || d.latestSec < -1 || d.latestSec > MAX_SECOND) return false;
    for (let k = 0; k < this.columns.length; k++) {
      const c = d.columns[k];
      if (!c || c.constructor !== this.columns[k].constructor || c.length !== N) return false;
    }
    this.stamp.set(d.stamp);
    for (let k = 0; k < this.columns.length; k++) this.columns[k].set(d.columns[k]);
    this.latestSec = d.latestSec;
    return true;
  }

  /**
   * The slot to write second `s` into, every column reset first when it held another second; -1
   * when `s` is invalid (negative) or too old to record (HISTORY_SECONDS or more before the newest).
   */
  write(s: number): number {
    if (s < 0 || s <= this.latestSec - N) return -1;
    if (s > this.latestSec) this.latestSec = s;
    const i = s % N;
    if (this.stamp[i] !== s + 1) {
      this.stamp[i] = s + 1;
      for (let k = 0; k < this.columns.length; k++) this.columns[k][i] = this.empty[k];
    }
    return i;
  }

  /** The slot holding second `s`, or -1 when there is none (never written, overwritten, s < 0). */
  read(s: number): number {
    if (s < 0) return -1;
    const i = s % N;
    return this.stamp[i] === s + 1 ? i : -1;
  }
}
