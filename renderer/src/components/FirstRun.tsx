import { type FormEvent, type ReactNode, useId, useState } from 'react';
import { useApp } from '../context';
import { errorText } from '../transport';
import { FormError } from './Dialog';

const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const NODE_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** Names and codes are typed or pasted as they are: no autocomplete, no spell check. */
const VERBATIM = { autoComplete: 'off', spellCheck: false } as const;

/** Before the first network: create one, or join one with a code from a member. */
export function FirstRun() {
  const defaultNodeName = useApp((s) => s.settings?.nodeName ?? '');
  return (
    <main className="first-run">
      <h1>Welcome to PeerMesh</h1>
      <p className="lead">
        Connect your devices in a private network, directly to each other. Start a new network, or join one
        with a code from a device that is already in it.
      </p>
      <div className="first-run-forms">
        <CreateForm defaultNodeName={defaultNodeName} />
        <JoinForm defaultNodeName={defaultNodeName} />
      </div>
    </main>
  );
}

function CreateForm({ defaultNodeName }: { defaultNodeName: string }) {
  const createNetwork = useApp((s) => s.createNetwork);
  const [name, setName] = useState('');
  return (
    <FormCard
      title="Create a network"
      action="Create network"
      busyAction="Creating…"
      defaultNodeName={defaultNodeName}
      problem={() =>
        NETWORK_NAME.test(name.trim())
          ? null
          : 'The network name may have letters, digits, - and _ (starting with a letter or digit), at most 63.'
      }
      run={(nodeName) => createNetwork(name.trim(), nodeName)}
    >
      <Field label="Network name" hint="Letters, digits, - and _, such as “home”.">
        {(field) => (
          <input
            {...field}
            {...VERBATIM}
            value={name}
            onChange={(e) => setName(e.target.value)}
            maxLength={63}
          />
        )}
      </Field>
    </FormCard>
  );
}

function JoinForm({ defaultNodeName }: { defaultNodeName: string }) {
  const join = useApp((s) => s.join);
  const [code, setCode] = useState('');
  return (
    <FormCard
      title="Join with a code"
      action="Join network"
      busyAction="Joining…"
      defaultNodeName={defaultNodeName}
      problem={() => (code.trim().length < 10 ? 'Paste the whole join code.' : null)}
      run={(nodeName) => join(code.trim(), nodeName)}
    >
      <Field label="Join code" hint="Create one on a device of the network with “Invite…”.">
        {(field) => (
          <textarea
            {...field}
            {...VERBATIM}
            className="join-code"
            value={code}
            onChange={(e) => setCode(e.target.value)}
            rows={3}
            maxLength={2000}
          />
        )}
      </Field>
    </FormCard>
  );
}

interface FormCardProps {
  title: string;
  /** The submit button's text, and its text while the call is out. */
  action: string;
  busyAction: string;
  defaultNodeName: string;
  /** What is wrong with the form's own fields, or null. */
  problem: () => string | null;
  /** Creates or joins; the device name is undefined when left empty. */
  run: (nodeName: string | undefined) => Promise<unknown>;
  /** The fields above the device name. */
  children: ReactNode;
}

/**
 * What both forms are made of: a titled card, their own fields, the device name, the error and the
 * submit button. A failed call shows its message and allows another try; success replaces the view.
 */
function FormCard({ title, action, busyAction, defaultNodeName, problem, run, children }: FormCardProps) {
  // the user's edit, or else the default from the settings (which may load late)
  const [editedNodeName, setNodeName] = useState<string | null>(null);
  const nodeName = editedNodeName ?? defaultNodeName;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const node = nodeName.trim();
    const p = problem() ?? nodeNameProblem(node);
    setError(p);
    if (p) return;
    setBusy(true);
    try {
      await run(node || undefined);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <form className="card first-run-form" onSubmit={submit} aria-labelledby={`${id}-title`} aria-busy={busy}>
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
      <Field label="Device name" hint="How the other members see this device.">
        {(field) => (
          <input
            {...field}
            {...VERBATIM}
            value={nodeName}
            onChange={(e) => setNodeName(e.target.value)}
            maxLength={63}
          />
        )}
      </Field>
      <FormError error={error} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? busyAction : action}
      </button>
    </form>
  );
}

function nodeNameProblem(name: string): string | null {
  return name === '' || NODE_NAME.test(name)
    ? null
    : 'The device name may have letters, digits and - (not at the start or end), at most 63.';
}

interface FieldProps {
  label: string;
  hint: string;
  /** The control, given the id its label points to and the hint that describes it. */
  children: (field: { id: string; 'aria-describedby': string }) => ReactNode;
}

function Field({ label, hint, children }: FieldProps) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-describedby': `${id}-hint` })}
      <p className="hint" id={`${id}-hint`}>
        {hint}
      </p>
    </div>
  );
}
