import { useEffect } from 'react';
import type { Settings } from './api';

/** The theme goes on <html data-theme>; styles.css maps it to a color-scheme (`system`: the OS's). */
export function applyTheme(theme: Settings['theme'], root: HTMLElement = document.documentElement): void {
  root.dataset.theme = theme;
}

export function useTheme(theme: Settings['theme'] | undefined): void {
  useEffect(() => {
    if (theme) applyTheme(theme);
  }, [theme]);
}
