// The window's security policy as data, so the unit tests can check it without Electron:
// the Content-Security-Policy header, which permission requests are granted (next to none), and
// which navigations are allowed (none).
import { isRendererUrl, type RendererPolicy } from './ipc-validate';

/**
 * The renderer's CSP: only its own files, no eval, no inline scripts; inline styles (React's style
 * attributes, uPlot) and data: images (the invite QR code) are allowed; no network access at all
 * (the renderer talks to the node over IPC only), no plugins, no framing, no forms, no base change.
 */
export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'none'",
  "object-src 'none'",
  "frame-src 'none'",
  "worker-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The dev server's page needs its own origin and its HMR WebSocket; only used when explicitly in dev. */
export function devCsp(origin: string): string {
  const ws = origin.replace(/^http/, 'ws');
  return CSP.replace("connect-src 'none'", `connect-src 'self' ${ws}`);
}

/** Response headers with our CSP replacing whatever the response had (any letter case). */
export function withCsp(
  headers: Record<string, string | string[]> | undefined,
  csp: string = CSP,
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    const lk = k.toLowerCase();
    if (lk === 'content-security-policy' || lk === 'content-security-policy-report-only') continue;
    out[k] = Array.isArray(v) ? v : [v];
  }
  out['Content-Security-Policy'] = [csp];
  out['X-Content-Type-Options'] = ['nosniff'];
  return out;
}

/**
 * Permission requests and checks: everything is denied except writing to the clipboard from our
 * own page (the renderer's copy buttons use navigator.clipboard.writeText, which Chromium gates
 * behind 'clipboard-sanitized-write'). Reading the clipboard, notifications from the page (the main
 * process shows them), media, geolocation, HID/USB/serial, openExternal...: denied.
 */
export function permissionAllowed(
  permission: string,
  requestingUrl: string,
  policy: RendererPolicy,
): boolean {
  return permission === 'clipboard-sanitized-write' && isRendererUrl(requestingUrl, policy);
}

/** The window never navigates anywhere (a reload of our page is not a navigation event). */
export function navigationAllowed(_url: string): boolean {
  return false;
}
