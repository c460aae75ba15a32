// Colours for canvas drawing, read from the theme's CSS variables at draw time (so a theme switch
// shows on the next draw: the charts redraw every second).

export function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** Colours of the overview chart's series (one per peer). */
export const SERIES_COLORS = 8;

export function seriesColor(i: number): string {
  return cssVar(`--series-${(i % SERIES_COLORS) + 1}`, '#3b82f6');
}
