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

/** A key's preferred colour: from its bytes (FNV-1a), not from where it sits in a list. */
function preferredSlot(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % SERIES_COLORS;
}

/**
 * One colour per peer that stays with it (a line does not change colour when another peer goes
 * offline or the list is sorted): each key takes its preferred colour; when two shown peers prefer
 * the same one, the smaller key keeps it and the other takes the next free one.
 */
export function colorSlots(keys: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  const used = new Set<number>();
  for (const key of [...keys].sort()) {
    let slot = preferredSlot(key);
    for (let i = 0; i < SERIES_COLORS && used.has(slot); i++) slot = (slot + 1) % SERIES_COLORS;
    used.add(slot);
    out.set(key, slot);
  }
  return out;
}
