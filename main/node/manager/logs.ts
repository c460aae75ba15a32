// The recent log lines the Logs view shows: the last LOG_LINES_KEPT at or above the manager's level.
import type { LogLine } from '../../control/api';
import type { LogLevel } from '../config';

export const LOG_LINES_KEPT = 1000;
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export class LogBook {
  private readonly lines: LogLine[] = [];

  constructor(private readonly minLevel: LogLevel) {}

  /** The line kept (message cut to 2,000 characters), or null when below the level. */
  add(level: LogLevel, message: string, time: number): LogLine | null {
    if (LEVELS[level] < LEVELS[this.minLevel]) return null;
    const line: LogLine = { time, level, message: message.slice(0, 2000) };
    this.lines.push(line);
    if (this.lines.length > LOG_LINES_KEPT) this.lines.splice(0, this.lines.length - LOG_LINES_KEPT);
    return line;
  }

  /** The last `limit` lines at or above `level`, oldest first. */
  recent(level: LogLevel, limit: number): LogLine[] {
    const min = LEVELS[level];
    return this.lines.filter((l) => LEVELS[l.level] >= min).slice(-limit);
  }
}
