// How the desktop app starts the TUN helper (docs/helper.md "Privileges"). The helper needs
// CAP_NET_ADMIN once, to create and configure the interface, and drops every privilege after; the
// app and the node always run as the user:
//   - running as root (only the CLI does that: the app refuses, see refuseRoot) -> start it directly;
//   - the helper file carries cap_net_admin in its permitted and effective file capabilities (the
//     deb/rpm post-install script ran `setcap cap_net_admin+ep` on it) -> start it directly;
//   - otherwise (AppImage, a dev checkout, a file system without xattrs) -> through pkexec, polkit
//     action net.peermesh.helper (main/app/resources/linux/net.peermesh.helper.policy, installed by
//     the packages; elsewhere polkit falls back to its generic org.freedesktop.policykit.exec), after
//     telling the user in one line what will be asked and why.
//
// File capabilities are read with getcap (main/io/file-caps.ts, shared with `peermesh up --ui` as
// root); without getcap the answer is "unknown" and the app uses pkexec, which works either way (a
// password prompt too many rather than a failure).
//
// The packaged helper is root:peermesh mode 0750 (after-install.sh): only members of the group may
// start it with its capability (docs/security.md, "local user"). A user who is not a member yet
// (or was added but has not logged in again) gets pkexec, with an explanation of how to join the
// group, or, without pkexec, only that explanation. Under pkexec the password prompt is PeerMesh's
// own polkit action only where it is installed for this helper's path.
//
// An AppImage's helper sits at a mount path that changes every run, which no polkit action can name
// and no file capability can stay on. So on its first connect the AppImage installs its helper at a
// fixed path (LOCAL_HELPER_PATH) as the packages do, with PeerMesh's own polkit action for it
// (install-helper.sh, run through pkexec: the system's generic prompt this once, explained
// beforehand), and from then on starts that copy (its own prompt, or none for a group member). An
// AppImage whose helper differs from the installed one (its sha256 beside it) installs again.
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { canExecute, type FileCaps, type ProbeOptions, readFileCaps } from '../io/file-caps';

export {
  canExecute,
  capTextHasNetAdmin,
  type FileCaps,
  GETCAP_PATHS,
  type ProbeOptions,
  parseGetcap,
  readFileCaps,
} from '../io/file-caps';

export const POLKIT_ACTION_ID = 'net.peermesh.helper';
/** Where an AppImage installs its helper, its polkit action and that action's file. */
export const LOCAL_HELPER_PATH = '/usr/local/lib/peermesh/peermesh-helper';
export const LOCAL_ACTION_ID = 'net.peermesh.helper-local';
export const LOCAL_POLICY_PATH = '/usr/share/polkit-1/actions/net.peermesh.helper-local.policy';

/** Shown once before the system's password prompt (a notification or a dialog). */
export const PKEXEC_EXPLANATION =
  'To connect, PeerMesh asks for an administrator password once per session: its small network ' +
  'helper needs it to create the PeerMesh network interface, then drops all privileges.';

/** The group whose members may start the packaged helper (main/app/resources/linux/after-install.sh). */
export const HELPER_GROUP = 'peermesh';
/** Where the packages install PeerMesh's polkit action. */
export const POLKIT_POLICY_PATH = '/usr/share/polkit-1/actions/net.peermesh.helper.policy';

export const PKEXEC_PATHS = ['/usr/bin/pkexec', '/bin/pkexec'];

export type HelperLaunch =
  | {
      mode: 'direct';
      reason: 'root' | 'file-capability';
      helperPath: string;
      /** Prefix for the helper command line: none. */
      helperCommand: [];
      explanation: null;
    }
  | {
      mode: 'pkexec';
      reason: 'no-capability' | 'capability-unknown' | 'not-in-group' | 'install';
      /** Whose password prompt appears: PeerMesh's polkit action, or the generic one of pkexec. */
      prompt: 'peermesh' | 'generic';
      helperPath: string;
      /**
       * [pkexec], or [pkexec, /bin/sh, install-helper.sh] (reason 'install'): the node appends the
       * helper's path and arguments.
       */
      helperCommand: string[];
      actionId: typeof POLKIT_ACTION_ID | typeof LOCAL_ACTION_ID;
      explanation: string;
    }
  | {
      mode: 'unavailable';
      reason: 'no-helper' | 'no-pkexec' | 'not-in-group';
      helperPath: string;
      helperCommand: [];
      /** What is missing and what to do; shown when the user connects. */
      explanation: string;
    };

export function findExecutable(candidates: string[]): string | null {
  for (const p of candidates) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** The org.freedesktop.policykit.exec.path of an installed polkit action file, or null. */
export function polkitExecPath(policyXml: string): string | null {
  const m = /<annotate key="org\.freedesktop\.policykit\.exec\.path">([^<]+)<\/annotate>/.exec(policyXml);
  return m ? m[1].trim() : null;
}

/** The name of group `gid` from an /etc/group text, or null. */
export function groupName(etcGroup: string, gid: number): string | null {
  for (const line of etcGroup.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && Number(f[2]) === gid && /^\d+$/.test(f[2])) return f[0];
  }
  return null;
}

export function joinGroupExplanation(group: string): string {
  return (
    `You are not in the group '${group}', whose members may start PeerMesh's network helper. ` +
    `An administrator adds you with: sudo usermod -aG ${group} $USER — then log out and in again ` +
    '(the group only applies to new sessions).'
  );
}

export interface DecideInput {
  uid: number;
  helperPath: string;
  helperExists: boolean;
  caps: FileCaps;
  /** pkexec's absolute path, or null when it is not installed. */
  pkexec: string | null;
  /** Whether this user may execute the helper file (default true). */
  executable?: boolean;
  /** The helper file's group (for the explanation when not executable). */
  group?: string;
  /** Whether PeerMesh's polkit action is installed for exactly this helper path (default true). */
  polkitActionForHelper?: boolean;
  /** The polkit action that names this helper (default POLKIT_ACTION_ID). */
  actionId?: typeof POLKIT_ACTION_ID | typeof LOCAL_ACTION_ID;
  /**
   * Running from an AppImage whose helper is not installed yet (or differs from the installed one):
   * the script that installs it (install-helper.sh), run through pkexec.
   */
  installScript?: string;
}

/** The decision itself, from facts gathered by probeHelperLaunch (or a test). */
export function decideHelperLaunch(i: DecideInput): HelperLaunch {
  const helperPath = i.helperPath;
  if (!i.helperExists)
    return {
      mode: 'unavailable',
      reason: 'no-helper',
      helperPath,
      helperCommand: [],
      explanation: `The PeerMesh network helper is missing (${helperPath}); reinstall PeerMesh or run npm run build.`,
    };
  if (i.uid === 0)
    return { mode: 'direct', reason: 'root', helperPath, helperCommand: [], explanation: null };
  const executable = i.executable ?? true;
  if (i.caps.netAdmin && executable)
    return { mode: 'direct', reason: 'file-capability', helperPath, helperCommand: [], explanation: null };
  if (i.installScript) {
    const install = `sh '${i.installScript}' '${helperPath}' --version`;
    if (!i.pkexec)
      return {
        mode: 'unavailable',
        reason: 'no-pkexec',
        helperPath,
        helperCommand: [],
        explanation:
          'PeerMesh cannot get the rights to install its network helper: install pkexec (polkit), or run as an administrator (with this AppImage running): sudo ' +
          install,
      };
    return {
      mode: 'pkexec',
      reason: 'install',
      prompt: 'generic',
      helperPath,
      helperCommand: [i.pkexec, '/bin/sh', i.installScript],
      actionId: LOCAL_ACTION_ID,
      explanation:
        'To connect the first time, PeerMesh installs its small network helper for this computer ' +
        `(${LOCAL_HELPER_PATH}), which needs an administrator password once. Your system shows its ` +
        'generic prompt for this, naming /bin/sh and install-helper.sh; later connects show PeerMesh’s own ' +
        `prompt, or none for members of the group '${HELPER_GROUP}'.`,
    };
  }
  const notInGroup = !executable ? joinGroupExplanation(i.group ?? HELPER_GROUP) : null;
  if (!i.pkexec)
    return {
      mode: 'unavailable',
      reason: notInGroup ? 'not-in-group' : 'no-pkexec',
      helperPath,
      helperCommand: [],
      explanation:
        notInGroup ??
        'PeerMesh cannot get the rights to create its network interface: install pkexec (polkit), ' +
          `or run: sudo setcap cap_net_admin,cap_net_bind_service+ep '${helperPath}'`,
    };
  const own = i.polkitActionForHelper ?? true;
  const prompt = own
    ? ''
    : ' Your system will show its generic prompt for this, naming the helper ' +
      `${helperPath}: PeerMesh's own prompt comes with the .deb and .rpm packages and the AppImage.`;
  return {
    mode: 'pkexec',
    reason: notInGroup ? 'not-in-group' : i.caps.known ? 'no-capability' : 'capability-unknown',
    prompt: own ? 'peermesh' : 'generic',
    helperPath,
    helperCommand: [i.pkexec],
    actionId: i.actionId ?? POLKIT_ACTION_ID,
    explanation: notInGroup
      ? `${notInGroup} Until then, PeerMesh asks for an administrator password when it connects.${prompt}`
      : PKEXEC_EXPLANATION + prompt,
  };
}

function readOr<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

function sha256File(path: string): string | null {
  return readOr(() => createHash('sha256').update(readFileSync(path)).digest('hex'), null);
}

export interface AppImageProbe {
  /** install-helper.sh inside the AppImage. */
  installScript: string;
  /** Default LOCAL_HELPER_PATH (a test installs elsewhere). */
  localHelper?: string;
  /** Default LOCAL_POLICY_PATH. */
  localPolicy?: string;
}

/** When running from an AppImage (its runtime sets APPIMAGE and APPDIR), where its install script is. */
export function appImageProbe(
  helperPath: string,
  resourcesPath: string,
  env: NodeJS.ProcessEnv = process.env,
): AppImageProbe | undefined {
  const dir = env.APPDIR;
  if (!env.APPIMAGE || !dir || !helperPath.startsWith(`${dir.replace(/\/+$/, '')}/`)) return undefined;
  return { installScript: `${resourcesPath}/linux/install-helper.sh` };
}

/** Gathers the facts on this machine and decides. */
export function probeHelperLaunch(
  helperPath: string,
  uid: number = process.getuid?.() ?? -1,
  opts: ProbeOptions & {
    pkexecPaths?: string[];
    gids?: number[];
    policyPath?: string;
    appImage?: AppImageProbe;
  } = {},
): HelperLaunch {
  // From an AppImage: the installed copy when it is this AppImage's helper (under its own action),
  // else this helper through the install script.
  let path = helperPath;
  let policyPath = opts.policyPath ?? POLKIT_POLICY_PATH;
  let actionId: typeof POLKIT_ACTION_ID | typeof LOCAL_ACTION_ID = POLKIT_ACTION_ID;
  let installScript: string | undefined;
  const ai = opts.appImage;
  if (ai && uid !== 0 && existsSync(helperPath)) {
    const local = ai.localHelper ?? LOCAL_HELPER_PATH;
    const ours = sha256File(helperPath);
    const installed = readOr(() => readFileSync(`${local}.sha256`, 'utf8').trim(), null);
    if (ours !== null && installed === ours && existsSync(local)) {
      path = local;
      policyPath = ai.localPolicy ?? LOCAL_POLICY_PATH;
      actionId = LOCAL_ACTION_ID;
    } else installScript = ai.installScript;
  }
  const helperExists = existsSync(path);
  const st = readOr(() => statSync(path), null);
  // This process's groups when probing for itself (the user's session: a group added since login
  // does not count yet, as for exec itself); a test passes `gids` for another uid.
  const gids =
    opts.gids ??
    (uid === process.getuid?.() ? [process.getgid?.() ?? -1, ...(process.getgroups?.() ?? [])] : []);
  return decideHelperLaunch({
    uid,
    helperPath: path,
    helperExists,
    executable: st ? canExecute(st, uid, gids) : true,
    group: (st && readOr(() => groupName(readFileSync('/etc/group', 'utf8'), st.gid), null)) ?? HELPER_GROUP,
    polkitActionForHelper: readOr(() => polkitExecPath(readFileSync(policyPath, 'utf8')), null) === path,
    actionId,
    installScript,
    caps:
      helperExists && uid !== 0 && !installScript
        ? readFileCaps(path, opts)
        : { known: false, netAdmin: false, text: '' },
    pkexec: findExecutable(opts.pkexecPaths ?? PKEXEC_PATHS),
  });
}

/** What NodeManager.open takes from the decision. */
export function managerHelperOptions(l: HelperLaunch): { helperPath: string; helperCommand?: string[] } {
  return l.mode === 'pkexec'
    ? { helperPath: l.helperPath, helperCommand: [...l.helperCommand] }
    : { helperPath: l.helperPath };
}

/**
 * The desktop app never runs as root: a browser engine with root rights is a liability, and the
 * helper is the only part that needs any. Returns the message to show, or null to go on.
 */
export function refuseRoot(uid: number): string | null {
  if (uid !== 0) return null;
  return (
    'PeerMesh does not run its desktop app as root. Start it as your own user: the network helper ' +
    'gets the one right it needs by itself. On a server without a desktop, use the command line ' +
    "instead: 'peermesh up' (or 'peermesh ui' for the web interface)."
  );
}
