import { type FormEvent, type ReactNode, useEffect, useId, useRef, useState } from 'react';
import type { Settings } from '../api';
import { useApp } from '../context';
import { askBrowserNotifications, browserNotifications } from '../notices';
import { errorText } from '../transport';
import { ConfirmDialog, FormError } from './Dialog';
import { RadioGroup } from './RadioGroup';

const MAX_ROUTES = 16;
const THEMES: { value: Settings['theme']; label: string }[] = [
  { value: 'system', label: 'Same as the system' },
  { value: 'light', label: 'Light' },
  { value: 'dark', label: 'Dark' },
];

/** The form's values: numbers are edited as text, so that a half-typed value is not lost. */
type Draft = Omit<Settings, 'listenPort'> & { listenPort: string };
/** The settings that are on or off. */
type Toggle = { [K in keyof Settings]: Settings[K] extends boolean ? K : never }[keyof Settings];
type FieldErrors = Partial<Record<keyof Settings, string>> & { routes?: Record<number, string> };

function draftOf(s: Settings): Draft {
  return { ...s, listenPort: String(s.listenPort), advertiseRoutes: [...s.advertiseRoutes] };
}

/** The settings that differ from the saved ones, or field errors found before asking the node. */
function changesOf(d: Draft, s: Settings): { changes: Partial<Settings> } | { errors: FieldErrors } {
  const port = Number(d.listenPort.trim());
  if (d.listenPort.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535)
    return { errors: { listenPort: 'A whole number from 0 to 65535 (0 picks a free port).' } };
  const next: Settings = {
    ...d,
    nodeName: d.nodeName.trim(),
    interfaceName: d.interfaceName.trim(),
    listenPort: port,
    advertiseRoutes: d.advertiseRoutes.map((r) => r.trim()).filter(Boolean),
  };
  const changes: Partial<Settings> = {};
  for (const k of Object.keys(next) as (keyof Settings)[]) {
    if (JSON.stringify(next[k]) !== JSON.stringify(s[k])) Object.assign(changes, { [k]: next[k] });
  }
  return { changes };
}

/**
 * The node's schema errors read "params.<field>: expected …" or "params.advertiseRoutes[2]: …":
 * those go next to their field, anything else above the buttons.
 */
export function fieldErrorOf(message: string): { errors: FieldErrors } | null {
  // the node could not apply a field: the message goes beside that field (which gets the focus)
  if (/UDP port \d+ is used by another program/.test(message)) return { errors: { listenPort: message } };
  if (/An interface named \S+ exists/.test(message)) return { errors: { interfaceName: message } };
  const m = /^params\.(\w+)(?:\[(\d+)\])?: (.+)$/s.exec(message);
  if (!m) return null;
  const field = m[1] as keyof Settings;
  const text = m[3].charAt(0).toUpperCase() + m[3].slice(1);
  if (field === 'advertiseRoutes' && m[2] !== undefined)
    return { errors: { routes: { [Number(m[2])]: text } } };
  return { errors: { [field]: text } };
}

export function SettingsView() {
  const settings = useApp((s) => s.settings);
  const desktop = useApp((s) => s.app?.desktop ?? false);
  const hasNetwork = useApp((s) => s.app?.network != null);
  if (!settings) return <p className="empty">Loading settings…</p>;
  return (
    <div className="settings-view">
      <SettingsForm settings={settings} desktop={desktop} />
      {hasNetwork && <LeaveNetwork />}
    </div>
  );
}

function SettingsForm({ settings, desktop }: { settings: Settings; desktop: boolean }) {
  const saveSettings = useApp((s) => s.saveSettings);
  const [draft, setDraft] = useState<Draft>(() => draftOf(settings));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);
  /** Bumped when a save found invalid fields: the first of them gets the focus (not <body>). */
  const [invalidAt, setInvalidAt] = useState(0);
  const formRef = useRef<HTMLFormElement>(null);
  const id = useId();
  useEffect(() => {
    if (invalidAt) formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [invalidAt]);

  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => {
    setDraft((d) => ({ ...d, [k]: v }));
    setStatus('');
  };
  /** A checkbox for one of the on/off settings. */
  const check = (k: Toggle, label: string) => (
    <Check label={label} checked={draft[k]} onChange={(v) => set(k, v)} error={errors[k]} />
  );
  const diff = changesOf(draft, settings);
  const dirty = 'errors' in diff || Object.keys(diff.changes).length > 0;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setFormError(null);
    setStatus('');
    if ('errors' in diff) {
      setErrors(diff.errors);
      setInvalidAt((n) => n + 1);
      return;
    }
    setErrors({});
    if (Object.keys(diff.changes).length === 0) {
      setStatus('Nothing to save.');
      return;
    }
    setBusy(true);
    try {
      setDraft(draftOf(await saveSettings(diff.changes)));
      setStatus('Settings saved.');
    } catch (err) {
      const message = errorText(err);
      const field = fieldErrorOf(message);
      if (field) {
        setErrors(field.errors);
        setInvalidAt((n) => n + 1);
      } else setFormError(message);
    } finally {
      setBusy(false);
    }
  };

  const routes = draft.advertiseRoutes;
  return (
    <form ref={formRef} className="settings" onSubmit={submit} noValidate aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Settings</h2>
      <fieldset>
        <legend>This device</legend>
        <TextField
          label="Device name"
          value={draft.nodeName}
          onChange={(v) => set('nodeName', v)}
          error={errors.nodeName}
          hint="How the other members see this device: letters, digits and -."
          maxLength={63}
        />
        <TextField
          label="Listen port"
          value={draft.listenPort}
          onChange={(v) => set('listenPort', v)}
          error={errors.listenPort}
          hint="UDP port for the tunnels; 0 picks a free one."
          inputMode="numeric"
          className="narrow"
        />
        <TextField
          label="Interface name"
          value={draft.interfaceName}
          onChange={(v) => set('interfaceName', v)}
          error={errors.interfaceName}
          hint="The network interface of the tunnel (at most 15 characters)."
          maxLength={15}
          className="narrow"
        />
        {check('relay', 'Relay traffic for members that cannot reach each other directly')}
        <fieldset className="routes">
          <legend>Advertised routes</legend>
          <p className="hint">
            Networks behind this device that the other members reach through it, in CIDR notation (such as
            192.168.1.0/24).
          </p>
          {errors.advertiseRoutes && <p className="field-error">{errors.advertiseRoutes}</p>}
          {routes.length === 0 && <p className="hint">None.</p>}
          <ul>
            {routes.map((r, i) => (
              <li key={i}>
                <input
                  className="route-input"
                  value={r}
                  aria-label={`Route ${i + 1}`}
                  aria-invalid={errors.routes?.[i] ? true : undefined}
                  aria-describedby={errors.routes?.[i] ? `${id}-route-${i}-error` : undefined}
                  onChange={(e) =>
                    set(
                      'advertiseRoutes',
                      routes.map((x, j) => (j === i ? e.target.value : x)),
                    )
                  }
                  spellCheck={false}
                  autoComplete="off"
                  placeholder="192.168.1.0/24"
                />
                <button
                  type="button"
                  className="small"
                  aria-label={`Remove route number ${i + 1}`}
                  onClick={() =>
                    set(
                      'advertiseRoutes',
                      routes.filter((_, j) => j !== i),
                    )
                  }
                >
                  Remove
                </button>
                {errors.routes?.[i] && (
                  <p className="field-error" id={`${id}-route-${i}-error`}>
                    {errors.routes[i]}
                  </p>
                )}
              </li>
            ))}
          </ul>
          <button
            type="button"
            className="small"
            disabled={routes.length >= MAX_ROUTES}
            onClick={() => set('advertiseRoutes', [...routes, ''])}
          >
            Add route
          </button>
        </fieldset>
        <p className="hint">Changing any of these reconnects the device.</p>
      </fieldset>
      <fieldset>
        <legend>App</legend>
        {check('startConnected', 'Connect when the app starts')}
        {desktop && check('launchAtLogin', 'Start at login')}
        <RadioGroup
          legend="Theme"
          options={THEMES}
          value={draft.theme}
          onChange={(v) => set('theme', v)}
          look="choices"
        />
      </fieldset>
      <fieldset>
        <legend>Notifications</legend>
        {check('notifyPeerUp', 'When a peer comes online')}
        {check('notifyPeerDown', 'When a peer goes offline')}
        {check('notifyErrors', 'On errors')}
        <BrowserNotifications />
      </fieldset>
      <FormError error={formError} />
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Saving…' : 'Save'}
        </button>
        <button
          type="button"
          disabled={busy || !dirty}
          onClick={() => {
            setDraft(draftOf(settings));
            setErrors({});
            setFormError(null);
          }}
        >
          Undo changes
        </button>
        <p className="status" role="status">
          {status}
        </p>
      </div>
    </form>
  );
}

interface TextFieldProps {
  label: string;
  value: string;
  onChange: (v: string) => void;
  error?: string;
  hint?: ReactNode;
  maxLength?: number;
  inputMode?: 'numeric';
  className?: string;
}

function TextField({ label, value, onChange, error, hint, maxLength, inputMode, className }: TextFieldProps) {
  const id = useId();
  const described = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div className={className ? `field ${className}` : 'field'}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        maxLength={maxLength}
        inputMode={inputMode}
        spellCheck={false}
        autoComplete="off"
        aria-invalid={error ? true : undefined}
        aria-describedby={described || undefined}
      />
      {hint && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p className="field-error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

function Check({
  label,
  checked,
  onChange,
  error,
}: {
  label: string;
  checked: boolean;
  onChange: (v: boolean) => void;
  error?: string;
}) {
  const id = useId();
  return (
    <div className="check">
      <input
        id={id}
        type="checkbox"
        checked={checked}
        onChange={(e) => onChange(e.target.checked)}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
      />
      <label htmlFor={id}>{label}</label>
      {error && (
        <p className="field-error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

function LeaveNetwork() {
  const leave = useApp((s) => s.leave);
  const name = useApp((s) => s.app?.network?.name ?? '');
  const [confirming, setConfirming] = useState(false);
  return (
    <section className="danger-zone" aria-labelledby="leave-title">
      <h2 id="leave-title">Network</h2>
      <p>
        Leaving “{name}” disconnects this device and forgets the network. Coming back needs a new invitation.
      </p>
      <button type="button" className="danger" onClick={() => setConfirming(true)}>
        Leave network
      </button>
      {confirming && (
        <ConfirmDialog
          title={`Leave “${name}”?`}
          confirmLabel="Leave network"
          onConfirm={leave}
          onClose={() => setConfirming(false)}
        >
          <p>This device disconnects and forgets the network and its members.</p>
          <p>
            The other members see it go offline. It stays in their list, and its key stays a member, until one
            of them removes it: if you leave for good, ask them to (or remove it from another device).
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}

/**
 * In a browser (the web UI), notices show as toasts in the page; with the browser's permission also
 * as system notifications while the tab is not in view. (The desktop app shows its own.)
 */
function BrowserNotifications() {
  const [state, setState] = useState(browserNotifications);
  if (state === 'unsupported') return null;
  if (state === 'granted')
    return <p className="hint">Shown in this page, and by the browser while the page is not in view.</p>;
  if (state === 'denied')
    return (
      <p className="hint">Shown in this page only: the browser’s notifications are blocked for this site.</p>
    );
  return (
    <p className="hint">
      Shown in this page.{' '}
      <button type="button" onClick={() => void askBrowserNotifications().then((p) => setState(p))}>
        Also as browser notifications
      </button>
    </p>
  );
}
