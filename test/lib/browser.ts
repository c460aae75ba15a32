// Debian's Chromium driven by playwright-core, started inside a test namespace (so that it reaches a
// web UI listening on that namespace's loopback, like a browser on that machine would).
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function browserSkipReason(): string | null {
  return existsSync(CHROMIUM) ? null : `no ${CHROMIUM} (apt-get install chromium)`;
}

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Launch headless Chromium on this machine (its loopback is the test's). */
export async function launchLocal(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 30_000 });
}

/** Launch headless Chromium in namespace `ns`; close() also removes the wrapper and profile. */
export async function launchInNetns(ns: string): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'pm-browser-'));
  const wrapper = join(dir, 'chromium');
  // exec keeps the pipes playwright talks over (fds 3 and 4)
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o755);
  const browser = await chromium.launch({
    executablePath: wrapper,
    headless: true,
    args: ARGS,
    timeout: 30_000,
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
