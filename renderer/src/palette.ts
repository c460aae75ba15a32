// Colours for canvas drawing, read from the theme's CSS variables at draw time (so a theme switch
// shows on the next draw: the charts redraw every second).

let probe: HTMLElement | null = null;

/**
 * The colour in CSS variable `name`, as the page shows it now. The palette's colours are light-dark()
 * pairs, which only an element's computed `color` resolves to one colour: a hidden probe does that.
 */
export function cssVar(name: string, fallback: string): string {
  if (!probe?.isConnected) {
    probe = document.createElement('span');
    probe.hidden = true;
    document.body.append(probe);
  }
  probe.style.color = `var(${name}, ${fallback})`;
  const color = getComputedStyle(probe).color;
  return color && !color.startsWith('var(') ? color : fallback;
}

/** Colours of the overview chart's series (one per peer). */
export const SERIES_COLORS = 8;

export function seriesColor(i: number): string {
  return cssVar(`--series-${(i % SERIES_COLORS) + 1}`, '#3b82f6');
}
