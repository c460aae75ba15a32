// Launch at login (settings.launchAtLogin). Electron's app.setLoginItemSettings covers macOS and
// Windows only; on Linux the freedesktop way is an XDG autostart entry,
// $XDG_CONFIG_HOME/autostart/net.peermesh.app.desktop, written or removed here. The app started at
// login gets --hidden: it goes to the tray without opening its window.
// Pure Node (fs only), unit-tested.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const AUTOSTART_FILE = 'net.peermesh.app.desktop';
export const HIDDEN_ARG = '--hidden';

export function autostartDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const base = env.XDG_CONFIG_HOME?.startsWith('/') ? env.XDG_CONFIG_HOME : join(home, '.config');
  return join(base, 'autostart');
}

/** One argument of an Exec line (Desktop Entry Specification, "The Exec key"). */
export function quoteExecArg(arg: string): string {
  const escapedPercent = arg.replace(/%/g, '%%');
  if (!/[\s"'\\><~|&;$*?#()`]/.test(escapedPercent) && escapedPercent !== '') return escapedPercent;
  return `"${escapedPercent.replace(/(["`$\\])/g, '\\$1')}"`;
}

/** The executable to start at login: the AppImage file itself when running from one. */
export function loginCommand(execPath: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const appImage = env.APPIMAGE;
  return [appImage?.startsWith('/') ? appImage : execPath, HIDDEN_ARG];
}

export function desktopEntry(command: string[]): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=PeerMesh',
    'Comment=Peer-to-peer mesh VPN',
    `Exec=${command.map(quoteExecArg).join(' ')}`,
    'Icon=peermesh-app',
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/** Writes or removes the autostart entry; returns whether the file changed. */
export function applyLinuxAutostart(
  enabled: boolean,
  command: string[],
  dir: string = autostartDir(),
): boolean {
  const file = join(dir, AUTOSTART_FILE);
  if (!enabled) {
    let existed = true;
    try {
      readFileSync(file);
    } catch {
      existed = false;
    }
    rmSync(file, { force: true });
    return existed;
  }
  const text = desktopEntry(command);
  try {
    if (readFileSync(file, 'utf8') === text) return false;
  } catch {
    /* absent */
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, file);
  return true;
}
