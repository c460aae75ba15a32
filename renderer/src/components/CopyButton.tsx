import type { RefObject } from 'react';
import { copyText } from '../clipboard';
import { useApp } from '../context';
import { Icon } from './icons';

interface Props {
  text: string;
  /** Accessible name, starting with "Copy" (the visible text). */
  label: string;
  /** Selected for Ctrl+C when the Clipboard API is not available. */
  target?: RefObject<HTMLElement | null>;
  /** An icon instead of the word (for table cells and the header). */
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
      {compact ? <Icon name="copy" /> : 'Copy'}
    </button>
  );
}
