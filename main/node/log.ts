// Readable log lines on stderr: "2026-11-24T21:40:00.123Z info  message". Never per packet, never a secret.
import { stripControl } from '../core/names';
import type { LogLevel } from './config';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** One line as stderr shows it: "2026-11-24T21:40:00.123Z info  message\n". */
export function logLineText(time: number, level: LogLevel, message: string): string {
  return `${new Date(time).toISOString()} ${level.padEnd(5)} ${message}\n`;
}

export class Logger {
  constructor(
    private level: LogLevel = 'info',
    private readonly write: (line: string) => void = (l) => process.stderr.write(l),
    /** Also called with each line that passes the level (the app's Logs view). */
    private readonly sink?: (level: LogLevel, msg: string, time: number) => void,
  ) {}

  setLevel(level: LogLevel): void {
    this.level = level;
  }

  /**
   * One line, whatever the message quotes: control characters (a line break, an escape sequence, a
   * bidi override in a member's name or a remote error) are stripped, so no line can be forged.
   */
  log(level: LogLevel, message: string): void {
    if (ORDER[level] < ORDER[this.level]) return;
    const msg = stripControl(message);
    const now = Date.now();
    this.write(logLineText(now, level, msg));
    this.sink?.(level, msg, now);
  }

  debug(msg: string): void {
    this.log('debug', msg);
  }
  info(msg: string): void {
    this.log('info', msg);
  }
  warn(msg: string): void {
    this.log('warn', msg);
  }
  error(msg: string): void {
    this.log('error', msg);
  }
}

/** Short form of a public key for log lines and tables (the full key is in `status --json`). */
export function shortKey(b64: string): string {
  return `${b64.slice(0, 8)}…`;
}
