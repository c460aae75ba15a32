// Small line icons for compact buttons (16 × 16, drawn in the button's text colour). The button
// carries the accessible name; the icon is hidden from assistive technology.

const PATHS = {
  copy: 'M5.5 7a1.5 1.5 0 0 1 1.5-1.5h5A1.5 1.5 0 0 1 13.5 7v5a1.5 1.5 0 0 1-1.5 1.5H7A1.5 1.5 0 0 1 5.5 12z M10.5 3.5v-1a1 1 0 0 0-1-1h-6a1 1 0 0 0-1 1v6a1 1 0 0 0 1 1h1',
  rename: 'M10.5 2.5l3 3L6 13H3v-3z M9 4l3 3',
  ping: 'M1.5 8.5h3l1.75-4.5 3.5 8 1.75-3.5h3',
  remove: 'M2.5 4.5h11 M6 4.5v-2h4v2 M4 4.5l.75 9h6.5l.75-9 M6.75 7v4 M9.25 7v4',
} as const;

export type IconName = keyof typeof PATHS;

export function Icon({ name }: { name: IconName }) {
  return (
    <svg
      viewBox="0 0 16 16"
      width="14"
      height="14"
      aria-hidden="true"
      focusable="false"
      fill="none"
      stroke="currentColor"
      strokeWidth="1.25"
      strokeLinecap="round"
      strokeLinejoin="round"
    >
      <path d={PATHS[name]} />
    </svg>
  );
}
