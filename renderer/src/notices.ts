// The notification settings in the web UI (issue: they did nothing there): the same rules as the
// desktop app's (main/control/notify-rules.ts, a pure module) decide which events are news; the
// store shows peer notices as in-app toasts, and this shows every notice as a browser notification
// when the user allowed them, the tab is not in view, and we are not inside the desktop app (whose
// main process shows its own, on the same rules).
import type { Notice, NotifySettings } from '../../main/control/notify-rules';

export type { Notice, NotifySettings };

/** The settings' defaults, for a node that serves no settings (a headless node's web UI). */
export const NOTIFY_DEFAULTS: NotifySettings = {
  notifyPeerUp: false,
  notifyPeerDown: true,
  notifyErrors: true,
};

/** Whether browser notifications can be asked for here (a browser, not the desktop app). */
export function browserNotifications(): 'unsupported' | NotificationPermission {
  if (typeof window === 'undefined' || window.peermesh || typeof Notification === 'undefined')
    return 'unsupported';
  return Notification.permission;
}

/** Ask for permission (call from a click: browsers ignore it otherwise). */
export async function askBrowserNotifications(): Promise<NotificationPermission | 'unsupported'> {
  if (browserNotifications() === 'unsupported') return 'unsupported';
  return Notification.requestPermission();
}

/** Show a notice as a browser notification, when allowed and the page is not in view. */
export function showSystemNotice(n: Notice): void {
  if (browserNotifications() !== 'granted' || document.visibilityState === 'visible') return;
  try {
    new Notification(n.title, { body: n.body, tag: n.key ?? n.kind });
  } catch {
    /* some browsers allow notifications only from a service worker: the toast is there */
  }
}
