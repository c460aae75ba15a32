import type { RefObject } from 'react';
import { copyText } from '../clipboard';
import { useApp } from '../context';

interface Props {
  text: string;
  /** Accessible name, starting with "Copy" (the visible text). */
  label: string;
  /** Selected for Ctrl+C when the Clipboard API is not available. */
  target?: RefObject<HTMLElement | null>;
  /** An icon instead of the word (for table cells). */
  compact?: boolean;
}

export function CopyButton({ text, label, target, compact }: Props) {
  const toast = useApp((s) => s.toast);
  const copy = async () => {
    const ok = await copyText(text, target?.current);
    toast('info', ok ? 'Copied to the clipboard' : 'Selected: press Ctrl+C to copy');
  };
  return (
    <button
      type="button"
      className={compact ? 'small copy icon' : 'small copy'}
      aria-label={label}
      title={label}
      onClick={() => void copy()}
    >
      {compact ? (
        <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" focusable="false">
          <rect x="5.5" y="5.5" width="8" height="8" rx="1.5" fill="none" stroke="currentColor" />
          <path
            d="M10.5 3.5v-1a1 1 0 0 0-1-1h-6a1 1 0 0 0-1 1v6a1 1 0 0 0 1 1h1"
            fill="none"
            stroke="currentColor"
          />
        </svg>
      ) : (
        'Copy'
      )}
    </button>
  );
}
