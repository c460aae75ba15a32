import { useEffect } from 'react';
import { useApp } from '../context';
import type { Toast } from '../store';

const INFO_MS = 5000;
const ERROR_MS = 12_000;

/** The two live regions: errors are announced at once, the rest when the reader is idle. */
const REGIONS = [
  { kind: 'info', live: 'polite', label: 'Notifications' },
  { kind: 'error', live: 'assertive', label: 'Errors' },
] as const;

/** Short messages in a live region (errors assertive), each gone after a while or on "Dismiss". */
export function Toasts() {
  const toasts = useApp((s) => s.toasts);
  return (
    <div className="toasts">
      {REGIONS.map((r) => (
        <ul key={r.kind} aria-live={r.live} aria-label={r.label}>
          {toasts
            .filter((t) => t.kind === r.kind)
            .map((t) => (
              <ToastItem key={t.id} toast={t} />
            ))}
        </ul>
      ))}
    </div>
  );
}

function ToastItem({ toast }: { toast: Toast }) {
  const dismiss = useApp((s) => s.dismissToast);
  useEffect(() => {
    const t = window.setTimeout(() => dismiss(toast.id), toast.kind === 'error' ? ERROR_MS : INFO_MS);
    return () => window.clearTimeout(t);
  }, [toast, dismiss]);
  return (
    <li className={`toast toast-${toast.kind}`}>
      <span>{toast.text}</span>
      <button type="button" className="small" onClick={() => dismiss(toast.id)} aria-label="Dismiss">
        ×
      </button>
    </li>
  );
}
