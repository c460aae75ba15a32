import { type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { errorText } from '../transport';

interface DialogProps {
  title: string;
  /** Called on Escape and by the dialog's own buttons; the parent unmounts the dialog. */
  onClose: () => void;
  children: ReactNode;
  className?: string;
}

/** A modal <dialog>: focus is trapped inside while open and returns to the opener when it goes. */
export function Dialog({ title, onClose, children, className }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (typeof d.showModal === 'function') {
      if (!d.open) d.showModal();
    } else {
      d.open = true; // environments without modal dialogs (jsdom)
    }
    return () => {
      if (d.open && typeof d.close === 'function') d.close();
      opener?.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className={className ? `dialog ${className}` : 'dialog'}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <h2 id={titleId} className="dialog-title">
        {title}
      </h2>
      {children}
    </dialog>
  );
}

interface ConfirmProps {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  /** Resolves when done; a rejection's message is shown in the dialog. */
  onConfirm: () => Promise<void>;
  onClose: () => void;
}

export function ConfirmDialog({ title, children, confirmLabel, onConfirm, onClose }: ConfirmProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(errorText(e));
      setBusy(false);
    }
  };
  return (
    <Dialog title={title} onClose={onClose}>
      <div className="dialog-body">{children}</div>
      <FormError error={error} />
      <div className="dialog-actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="danger" onClick={() => void confirm()} disabled={busy}>
          {confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}

/** An error under a form; the live region stays in the page so that a new message is announced. */
export function FormError({ error, id }: { error: string | null; id?: string }) {
  return (
    <p className="form-error" role="alert" id={id}>
      {error}
    </p>
  );
}
