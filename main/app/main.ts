// The Electron main process: thin glue. The node runs in a worker thread of NodeManager
// (main/node/manager.ts); this file shows the window and the tray, relays the Control API over IPC
// (every message checked by ipc-validate.ts), forwards events, and shows notifications. Every decision
// lives in the pure modules beside it (tray-state, ipc-validate, privilege, security,
// autostart) and in main/control/notify-rules.ts (shared with the web UI), unit-tested in Node.
//
// Environment (only in an unpackaged app, i.e. a dev checkout or the smoke test):
//   PEERMESH_DEV=1 + PEERMESH_DEV_SERVER=http://localhost:5173   load the Vite dev server
//   PEERMESH_PROFILE_DIR=/path                                   use this profile instead of userData
//   PEERMESH_HELPER=/path                                        the helper binary (as the CLI)
//   PEERMESH_TEST_HOOKS=1                                        expose the tray model to the smoke test
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  app,
  BrowserWindow,
  clipboard,
  dialog,
  ipcMain,
  Menu,
  type MenuItemConstructorOptions,
  Notification,
  nativeImage,
  session,
  Tray,
} from 'electron';
import type { ApiEvent, ExitStatus, MethodName, NodeStatus, PeerRow } from '../control/api';
import { NotifyRules } from '../control/notify-rules';
import { applyLinuxAutostart, HIDDEN_ARG, loginCommand } from './autostart';
import {
  CALL_CHANNEL,
  devServerOrigin,
  EVENT_CHANNEL,
  handleIpcCall,
  type RendererPolicy,
  type SenderInfo,
  type TrustedWindow,
} from './ipc-validate';
import {
  appImageProbe,
  type HelperLaunch,
  managerHelperOptions,
  probeHelperLaunch,
  refuseRoot,
} from './privilege';
import { CSP, devCsp, navigationAllowed, permissionAllowed, withCsp } from './security';
import { sameModel, type TrayItem, type TrayModel, trayModel } from './tray-state';
import type { ManagerLike, ManagerModule } from './types';

/** Tray refresh (latencies) and trailing-notification interval. */
const REFRESH_MS = 5000;
/** How long Quit waits for the node to stop before leaving anyway. */
const CLOSE_TIMEOUT_MS = 10_000;

const packaged = app.isPackaged;
const devOrigin =
  !packaged && process.env.PEERMESH_DEV === '1' ? devServerOrigin(process.env.PEERMESH_DEV_SERVER) : null;
const rendererIndex = join(app.getAppPath(), 'renderer', 'dist', 'index.html');
const policy: RendererPolicy = {
  rendererFileUrl: pathToFileURL(rendererIndex).href,
  devServerOrigin: devOrigin,
};
const iconDir = join(app.getAppPath(), 'main', 'app', 'resources', 'icons');
const helperPath = packaged
  ? join(process.resourcesPath, 'peermesh-helper')
  : process.env.PEERMESH_HELPER || join(app.getAppPath(), 'native', 'build', 'peermesh-helper');
// The packaged native data plane (electron-builder.yml extraResources): the node's worker loads it
// from there (the default path is inside the repository); a build without it falls back to the
// TypeScript data path, and `peermesh status` says which runs and why.
if (packaged && !process.env.PEERMESH_DATAPLANE_ADDON)
  process.env.PEERMESH_DATAPLANE_ADDON = join(process.resourcesPath, 'dataplane.node');
const startHidden = process.argv.includes(HIDDEN_ARG);

let win: BrowserWindow | null = null;
let tray: Tray | null = null;
let manager: ManagerLike | null = null;
let launch: HelperLaunch | null = null;
let explained = false;
let peers: PeerRow[] | null = null;
/** The exit node as the node reported it last (the tray's "Exit node ▸"). */
let exit: ExitStatus | null = null;
let shownModel: TrayModel | null = null;
let quitting = false;
const rules = new NotifyRules({
  displayName: (key, name) => {
    const p = peers?.find((r) => r.key === key);
    return p?.alias?.trim() ? p.alias : name;
  },
});

// ---- the window ---------------------------------------------------------------------------------

function createWindow(show: boolean): BrowserWindow {
  const w = new BrowserWindow({
    width: 1200,
    height: 820,
    minWidth: 720,
    minHeight: 520,
    show: false,
    title: 'PeerMesh',
    icon: join(iconDir, 'app', '512x512.png'),
    autoHideMenuBar: true,
    webPreferences: {
      preload: join(__dirname, 'preload.js'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      // middle-click would otherwise open links in new windows (Electronegativity AUXCLICK_JS_CHECK)
      disableBlinkFeatures: 'Auxclick',
    },
  });
  w.on('close', (e) => {
    // closing the window keeps the app in the tray; Quit (tray menu) ends it
    if (!quitting) {
      e.preventDefault();
      w.hide();
    }
  });
  w.on('closed', () => {
    if (win === w) win = null;
  });
  if (show) w.once('ready-to-show', () => w.show());
  w.webContents.on('render-process-gone', (_e, d) => {
    console.error(`peermesh: renderer gone (${d.reason}), reloading`);
    if (!w.isDestroyed()) void load(w);
  });
  void load(w);
  return w;
}

function load(w: BrowserWindow): Promise<void> {
  return devOrigin ? w.loadURL(devOrigin) : w.loadFile(rendererIndex);
}

function showWindow(): void {
  if (!win || win.isDestroyed()) win = createWindow(true);
  else {
    if (win.isMinimized()) win.restore();
    win.show();
  }
  win.focus();
}

function trustedWindow(): TrustedWindow | null {
  if (!win || win.isDestroyed() || win.webContents.isDestroyed()) return null;
  const f = win.webContents.mainFrame;
  return { webContentsId: win.webContents.id, mainFrame: { processId: f.processId, routingId: f.routingId } };
}

function sendEvent(e: ApiEvent): void {
  if (win && !win.isDestroyed() && !win.webContents.isDestroyed()) win.webContents.send(EVENT_CHANNEL, e);
}

// ---- security: every web contents, the session ----------------------------------------------------

function harden(): void {
  const ses = session.defaultSession;
  const csp = devOrigin ? devCsp(devOrigin) : CSP;
  ses.webRequest.onHeadersReceived((details, cb) => {
    cb({ responseHeaders: withCsp(details.responseHeaders, csp) });
  });
  ses.setPermissionRequestHandler((_wc, permission, cb, details) => {
    cb(permissionAllowed(permission, details.requestingUrl, policy));
  });
  ses.setPermissionCheckHandler((_wc, permission, _origin, details) =>
    permissionAllowed(permission, details.requestingUrl ?? '', policy),
  );
  ses.setDevicePermissionHandler(() => false);
  // Every web contents (the window, and anything that might ever be created): no navigation, no
  // new windows, no webviews.
  app.on('web-contents-created', (_e, wc) => {
    wc.on('will-navigate', (ev, url) => {
      if (!navigationAllowed(url)) ev.preventDefault();
    });
    wc.on('will-redirect', (ev, url) => {
      if (!navigationAllowed(url)) ev.preventDefault();
    });
    wc.setWindowOpenHandler(() => ({ action: 'deny' }));
    wc.on('will-attach-webview', (ev) => ev.preventDefault());
  });
}

// ---- the helper's privileges --------------------------------------------------------------------

/** Before the first connect of the session through pkexec: say what the password prompt is for. */
async function beforeConnect(): Promise<void> {
  const l = launch;
  if (!l) return;
  if (l.mode === 'unavailable') throw Object.assign(new Error(l.explanation), { code: 'failed' });
  if (l.mode !== 'pkexec' || explained) return;
  const opts = {
    type: 'info' as const,
    title: 'PeerMesh',
    message: l.explanation,
    buttons: ['Continue', 'Cancel'],
    defaultId: 0,
    cancelId: 1,
    noLink: true,
  };
  const r =
    win && !win.isDestroyed() ? await dialog.showMessageBox(win, opts) : await dialog.showMessageBox(opts);
  if (r.response !== 0)
    throw Object.assign(new Error('not connected: administrator rights are needed to create the interface'), {
      code: 'failed',
    });
  explained = true;
}

const CONNECTING: ReadonlySet<MethodName> = new Set<MethodName>(['connect', 'create-network', 'join']);

/** Every call from the window or the tray goes through here. */
async function call(method: MethodName, params: unknown): Promise<unknown> {
  const m = manager;
  if (!m) throw Object.assign(new Error('PeerMesh is starting'), { code: 'busy' });
  if (CONNECTING.has(method)) await beforeConnect();
  const result = await m.handle(method, params);
  if (method === 'set-settings') applyLoginItem();
  scheduleRefresh();
  return result;
}

// ---- launch at login ----------------------------------------------------------------------------

function applyLoginItem(): void {
  if (!manager) return;
  const on = manager.getSettings().launchAtLogin;
  if (!packaged) return; // a dev checkout has no stable command to start at login
  try {
    if (process.platform === 'linux') applyLinuxAutostart(on, loginCommand(process.execPath));
    else app.setLoginItemSettings({ openAtLogin: on, args: [HIDDEN_ARG] });
  } catch (e) {
    console.error(`peermesh: launch at login: ${(e as Error).message}`);
  }
}

// ---- the tray -----------------------------------------------------------------------------------

function trayImage(name: string): Electron.NativeImage {
  // 16 px with a 32 px @2x variant; Linux trays (StatusNotifierItem) scale the 32 px one best
  const file = process.platform === 'linux' ? `tray-${name}@2x.png` : `tray-${name}.png`;
  return nativeImage.createFromPath(join(iconDir, file));
}

function menuTemplate(items: TrayItem[]): MenuItemConstructorOptions[] {
  return items.map((it): MenuItemConstructorOptions => {
    switch (it.type) {
      case 'separator':
        return { type: 'separator' };
      case 'info':
        return { label: it.label, enabled: false };
      case 'submenu':
        return { label: it.label, submenu: menuTemplate(it.items) };
      case 'choice':
        return {
          type: 'radio',
          label: it.label,
          checked: it.checked,
          enabled: it.enabled,
          click: () => trayAction(it),
        };
      default:
        return { label: it.label, enabled: it.enabled, click: () => trayAction(it) };
    }
  });
}

function trayAction(it: Extract<TrayItem, { type: 'action' | 'choice' }>): void {
  const a = it.action;
  switch (a.kind) {
    case 'connect':
    case 'disconnect':
      // a failure shows as the state (error) in the tray and as a notification
      void call(a.kind, {}).catch((e: Error) => {
        if (Notification.isSupported()) new Notification({ title: 'PeerMesh', body: e.message }).show();
      });
      break;
    case 'copy':
      clipboard.writeText(a.text);
      break;
    case 'exit-node':
      void call('exit-node', { node: a.node })
        .then(() => refresh())
        .catch((e: Error) => {
          if (Notification.isSupported()) new Notification({ title: 'PeerMesh', body: e.message }).show();
        });
      break;
    case 'open':
      showWindow();
      break;
    case 'quit':
      void quit();
      break;
  }
}

function renderTray(): void {
  if (!tray || !manager) return;
  const m = trayModel(manager.getState(), peers, { exit });
  if (sameModel(shownModel, m)) return;
  if (shownModel?.icon !== m.icon) tray.setImage(trayImage(m.icon));
  tray.setToolTip(m.tooltip);
  tray.setContextMenu(Menu.buildFromTemplate(menuTemplate(m.items)));
  shownModel = m;
}

async function refresh(): Promise<void> {
  const m = manager;
  if (!m) return;
  if (m.getState().state === 'connected') {
    try {
      peers = (await m.handle('peers', {})) as PeerRow[];
      exit = ((await m.handle('status', {})) as NodeStatus).network?.exitNode ?? null;
    } catch {
      /* keep the last list */
    }
  } else {
    peers = null;
    exit = null;
  }
  renderTray();
}

let refreshTimer: NodeJS.Timeout | null = null;
/** Coalesces the bursts of events (every member at connect) into one refresh. */
function scheduleRefresh(): void {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    void refresh();
  }, 250);
}

// ---- notifications ------------------------------------------------------------------------------

function notify(n: { title: string; body: string }): void {
  if (!Notification.isSupported()) return;
  const note = new Notification({ title: n.title, body: n.body, icon: join(iconDir, 'app', '128x128.png') });
  note.on('click', showWindow);
  note.show();
}

function onEvent(e: ApiEvent): void {
  sendEvent(e);
  if (!manager) return;
  const n = rules.onEvent(e, manager.getSettings(), Date.now());
  if (n) notify(n);
  if (e.type === 'state' || e.type === 'peer' || e.type === 'member' || e.type === 'removed')
    scheduleRefresh();
  // the state changes at once in the tray; peers and counts follow with the refresh
  if (e.type === 'state') renderTray();
}

// ---- start and quit -----------------------------------------------------------------------------

async function start(): Promise<void> {
  harden();
  if (packaged || process.env.PEERMESH_DEV !== '1') Menu.setApplicationMenu(null);

  // From an AppImage: its helper installed at a fixed path on the first connect (privilege.ts).
  launch = probeHelperLaunch(helperPath, undefined, {
    appImage: packaged ? appImageProbe(helperPath, process.resourcesPath) : undefined,
  });
  const { NodeManager } = (await import('../node/manager')) as ManagerModule;
  manager = await NodeManager.open({
    profileDir: app.getPath('userData'),
    desktop: true,
    ...managerHelperOptions(launch),
  });
  const m = manager;
  rules.reset(m.getState().state, Date.now());
  m.onEvent(onEvent);
  // settings.startConnected: the manager connects by itself; say why a password prompt appears
  if (launch.mode === 'pkexec' && m.getState().state === 'connecting') {
    explained = true;
    notify({ title: 'PeerMesh', body: launch.explanation });
  }

  ipcMain.handle(CALL_CHANNEL, (e, raw: unknown) => {
    const f = e.senderFrame;
    const sender: SenderInfo = {
      webContentsId: e.sender.id,
      frame: f ? { url: f.url, processId: f.processId, routingId: f.routingId } : null,
    };
    return handleIpcCall(sender, trustedWindow(), policy, raw, call);
  });

  tray = new Tray(trayImage(m.getState().state));
  tray.on('click', showWindow);
  renderTray();
  setInterval(() => {
    void refresh();
    if (manager) for (const n of rules.tick(manager.getSettings(), Date.now())) notify(n);
  }, REFRESH_MS).unref();
  applyLoginItem();

  if (process.env.PEERMESH_TEST_HOOKS === '1' && !packaged)
    (globalThis as Record<string, unknown>).__peermeshTest = {
      tray: () => shownModel,
      state: () => manager?.getState() ?? null,
    };

  win = createWindow(!startHidden);
}

async function quit(): Promise<void> {
  if (quitting) return;
  quitting = true;
  // disconnect cleanly: the helper removes the interface, members see us leave
  const m = manager;
  if (m) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      m.close().catch((e: Error) => console.error(`peermesh: close: ${e.message}`)),
      new Promise<void>((r) => {
        timer = setTimeout(r, CLOSE_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
  }
  tray?.destroy();
  app.quit();
}

function main(): void {
  const refusal = refuseRoot(process.getuid?.() ?? -1);
  if (refusal) {
    // before `ready` on Linux this goes to stderr (no GUI yet)
    dialog.showErrorBox('PeerMesh', refusal);
    app.exit(1);
    return;
  }
  if (!packaged && process.env.PEERMESH_PROFILE_DIR)
    app.setPath('userData', process.env.PEERMESH_PROFILE_DIR);
  app.enableSandbox();
  if (!app.requestSingleInstanceLock()) {
    app.exit(0); // the first instance shows its window (second-instance)
    return;
  }
  app.on('second-instance', () => {
    if (manager) showWindow();
  });
  app.on('window-all-closed', () => {
    /* stay in the tray */
  });
  app.on('before-quit', (e) => {
    // any other way of quitting (session end, app.quit from elsewhere) disconnects first too
    if (!quitting) {
      e.preventDefault();
      void quit();
    }
  });
  app
    .whenReady()
    .then(start)
    .catch((e: Error) => {
      dialog.showErrorBox('PeerMesh could not start', e.message);
      app.exit(1);
    });
}

main();
