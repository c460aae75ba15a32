import { type RefObject, useEffect, useRef, useState } from 'react';

/**
 * Calls `fn` now and then `ms` after each call has settled, while `enabled` and the page is visible
 * (a hidden page stops polling and catches up as soon as it is shown again). A new `key` restarts it.
 */
export function usePoll(fn: () => Promise<unknown>, ms: number, enabled: boolean, key: unknown = null): void {
  const fnRef = useRef(fn);
  useEffect(() => {
    fnRef.current = fn;
  });
  useEffect(() => {
    if (!enabled) return;
    let stopped = false;
    let running = false;
    let timer: number | undefined;
    const run = async () => {
      window.clearTimeout(timer);
      if (stopped || running || document.visibilityState === 'hidden') return;
      running = true;
      try {
        await fnRef.current();
      } catch {
        /* the store reports what matters */
      } finally {
        running = false;
      }
      if (!stopped) timer = window.setTimeout(run, ms);
    };
    const onVisibility = () => {
      if (document.visibilityState === 'visible') void run();
    };
    void run();
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [enabled, ms, key]);
}

/** The element's content width, kept up to date (0 until measured). */
export function useWidth(ref: RefObject<HTMLElement | null>, onWidth: (w: number) => void): void {
  const cb = useRef(onWidth);
  useEffect(() => {
    cb.current = onWidth;
  });
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    let last = -1;
    const ro = new ResizeObserver(() => {
      const w = Math.floor(el.clientWidth);
      if (w !== last && w > 0) {
        last = w;
        cb.current(w);
      }
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);
}

/**
 * The colour scheme in effect ('light' or 'dark'): the app's theme setting (<html data-theme>) and,
 * for "Same as the system", the system's. Canvas charts read their colours when they are made, so
 * they are made again when this changes.
 */
export function useColorScheme(): 'light' | 'dark' {
  const read = (): 'light' | 'dark' => {
    const theme = document.documentElement.dataset.theme;
    if (theme === 'light' || theme === 'dark') return theme;
    return globalThis.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  };
  const [scheme, setScheme] = useState(read);
  useEffect(() => {
    const update = () => setScheme(read());
    const media = globalThis.matchMedia?.('(prefers-color-scheme: dark)');
    media?.addEventListener('change', update);
    const observer = new MutationObserver(update);
    observer.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    update();
    return () => {
      media?.removeEventListener('change', update);
      observer.disconnect();
    };
  }, []);
  return scheme;
}
