import { type FormEvent, useId, useState } from 'react';
import { useApp } from '../context';
import { errorText } from '../transport';
import { FormError } from './Dialog';

const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const NODE_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

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

/** The form's node name: the user's edit, or else the default from the settings (which may load late). */
function useNodeName(defaultNodeName: string) {
  const [edited, setEdited] = useState<string | null>(null);
  const value = edited ?? defaultNodeName;
  return [value, setEdited] as const;
}

function nodeNameProblem(name: string): string | null {
  return name === '' || NODE_NAME.test(name)
    ? null
    : 'The device name may have letters, digits and - (not at the start or end), at most 63.';
}

function NodeNameField({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>Device name</label>
      <input
        id={id}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        autoComplete="off"
        spellCheck={false}
        maxLength={63}
        aria-describedby={`${id}-hint`}
      />
      <p className="hint" id={`${id}-hint`}>
        How the other members see this device.
      </p>
    </div>
  );
}

function CreateForm({ defaultNodeName }: { defaultNodeName: string }) {
  const createNetwork = useApp((s) => s.createNetwork);
  const [name, setName] = useState('');
  const [nodeName, setNodeName] = useNodeName(defaultNodeName);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    const problem = !NETWORK_NAME.test(n)
      ? 'The network name may have letters, digits, - and _ (starting with a letter or digit), at most 63.'
      : nodeNameProblem(nodeName.trim());
    setError(problem);
    if (problem) return;
    setBusy(true);
    try {
      await createNetwork(n, nodeName.trim() || undefined);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <form className="card" onSubmit={submit} aria-labelledby={`${id}-title`} aria-busy={busy}>
      <h2 id={`${id}-title`}>Create a network</h2>
      <div className="field">
        <label htmlFor={`${id}-name`}>Network name</label>
        <input
          id={`${id}-name`}
          value={name}
          onChange={(e) => setName(e.target.value)}
          autoComplete="off"
          spellCheck={false}
          maxLength={63}
        />
      </div>
      <NodeNameField value={nodeName} onChange={setNodeName} />
      <FormError error={error} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Creating…' : 'Create network'}
      </button>
    </form>
  );
}

function JoinForm({ defaultNodeName }: { defaultNodeName: string }) {
  const join = useApp((s) => s.join);
  const [code, setCode] = useState('');
  const [nodeName, setNodeName] = useNodeName(defaultNodeName);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const c = code.trim();
    const problem = c.length < 10 ? 'Paste the whole join code.' : nodeNameProblem(nodeName.trim());
    setError(problem);
    if (problem) return;
    setBusy(true);
    try {
      await join(c, nodeName.trim() || undefined);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <form className="card" onSubmit={submit} aria-labelledby={`${id}-title`} aria-busy={busy}>
      <h2 id={`${id}-title`}>Join with a code</h2>
      <div className="field">
        <label htmlFor={`${id}-code`}>Join code</label>
        <textarea
          id={`${id}-code`}
          className="join-code"
          value={code}
          onChange={(e) => setCode(e.target.value)}
          rows={3}
          spellCheck={false}
          autoComplete="off"
          maxLength={2000}
          aria-describedby={`${id}-hint`}
        />
        <p className="hint" id={`${id}-hint`}>
          Create one on a device of the network with “Invite…”.
        </p>
      </div>
      <NodeNameField value={nodeName} onChange={setNodeName} />
      <FormError error={error} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Joining…' : 'Join network'}
      </button>
    </form>
  );
}
