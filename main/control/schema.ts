// A tiny runtime-schema library for the Control API (main/control/api.ts): every message that crosses
// a process boundary is parsed by one of these before anything uses it. Parsing builds fresh plain
// objects with only the known keys (unknown keys are refused), so nothing a client sends — not even
// "__proto__" — reaches the node's objects. No dependencies: the renderer imports types only.

export class SchemaError extends Error {
  readonly code = 'bad_params';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

export interface Schema<T> {
  parse(v: unknown, path?: string): T;
  /** Shown in error messages ("a string of at most 63 characters"). */
  readonly describe: string;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

/** Field names whose values are never echoed in an error. */
const SECRET_FIELDS = /(^|\.)(secret|token|psk|code|password)$/i;

function shown(path: string, v: unknown): string {
  if (SECRET_FIELDS.test(path)) return '';
  const s =
    typeof v === 'string'
      ? JSON.stringify(v)
      : typeof v === 'object'
        ? v === null
          ? 'null'
          : 'an object'
        : String(v);
  return s.length > 40 ? '' : `, got ${s}`;
}

function fail(path: string, describe: string, v: unknown): never {
  throw new SchemaError(path, `expected ${describe}${shown(path, v)}`);
}

export function str(o: { min?: number; max?: number; pattern?: RegExp; what?: string } = {}): Schema<string> {
  const min = o.min ?? 0;
  const max = o.max ?? 256;
  const describe = o.what ?? `a string of ${min > 0 ? `${min} to ` : 'at most '}${max} characters`;
  return {
    describe,
    parse(v, path = 'params') {
      if (typeof v !== 'string' || v.length < min || v.length > max || (o.pattern && !o.pattern.test(v)))
        fail(path, describe, v);
      return v;
    },
  };
}

export function int(o: { min?: number; max?: number } = {}): Schema<number> {
  const min = o.min ?? Number.MIN_SAFE_INTEGER;
  const max = o.max ?? Number.MAX_SAFE_INTEGER;
  const describe = `a whole number from ${min} to ${max}`;
  return {
    describe,
    parse(v, path = 'params') {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(path, describe, v);
      return v;
    },
  };
}

export function bool(): Schema<boolean> {
  return {
    describe: 'true or false',
    parse(v, path = 'params') {
      if (typeof v !== 'boolean') fail(path, 'true or false', v);
      return v;
    },
  };
}

export function oneOf<const T extends readonly (string | number)[]>(...values: T): Schema<T[number]> {
  const describe = `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`;
  return {
    describe,
    parse(v, path = 'params') {
      if (!values.includes(v as T[number])) fail(path, describe, v);
      return v as T[number];
    },
  };
}

export function arr<T>(item: Schema<T>, o: { max: number }): Schema<T[]> {
  const describe = `a list of at most ${o.max} (${item.describe})`;
  return {
    describe,
    parse(v, path = 'params') {
      if (!Array.isArray(v) || v.length > o.max) fail(path, describe, v);
      return v.map((x, i) => item.parse(x, `${path}[${i}]`));
    },
  };
}

const OPTIONAL = Symbol('optional');
type Optional<T> = Schema<T | undefined> & { [OPTIONAL]: true };

export function optional<T>(s: Schema<T>): Optional<T> {
  return {
    [OPTIONAL]: true,
    describe: `${s.describe} (optional)`,
    parse: (v, path) => (v === undefined ? undefined : s.parse(v, path)),
  };
}

type Shape = Record<string, Schema<unknown>>;
type ObjOf<S extends Shape> = {
  [K in keyof S as S[K] extends Optional<unknown> ? never : K]: Infer<S[K]>;
} & {
  [K in keyof S as S[K] extends Optional<unknown> ? K : never]?: Exclude<Infer<S[K]>, undefined>;
};

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** An object with exactly these keys (optional ones may be absent); anything else is refused. */
export function obj<S extends Shape>(shape: S): Schema<ObjOf<S>> {
  const keys = Object.keys(shape);
  const describe = keys.length ? `an object with ${keys.join(', ')}` : 'an empty object';
  return {
    describe,
    parse(v, path = 'params') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, describe, v);
      for (const k of Object.keys(v)) {
        if (FORBIDDEN.has(k) || !Object.hasOwn(shape, k))
          throw new SchemaError(path, `unknown field ${JSON.stringify(k.slice(0, 40))}`);
      }
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        const x = shape[k].parse((v as Record<string, unknown>)[k], `${path}.${k}`);
        if (x !== undefined) out[k] = x;
      }
      return out as ObjOf<S>;
    },
  };
}

// ---- network syntax -----------------------------------------------------------------------------

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isIpv6(s: string): boolean {
  if (s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return false;
  const dbl = s.split('::');
  if (dbl.length > 2) return false;
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const head = groups(dbl[0]);
  const tail = dbl.length === 2 ? groups(dbl[1]) : [];
  const all = [...head, ...tail];
  let need = 8;
  if (all.length && V4.test(all[all.length - 1])) {
    all.pop();
    need = 6;
  }
  if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  return dbl.length === 2 ? all.length < need : all.length === need;
}

/** An IPv4 or IPv6 prefix in CIDR notation (host bits may be set). */
export function cidr(): Schema<string> {
  const describe = 'a CIDR such as 192.168.1.0/24 or fd00::/64';
  return {
    describe,
    parse(v, path = 'params') {
      if (typeof v !== 'string' || v.length > 49) fail(path, describe, v);
      const m = /^([^/]+)\/(\d{1,3})$/.exec(v);
      if (!m) fail(path, describe, v);
      const bits = Number(m[2]);
      if (V4.test(m[1]) ? bits > 32 : !isIpv6(m[1]) || bits > 128) fail(path, describe, v);
      if (m[2].length > 1 && m[2].startsWith('0')) fail(path, describe, v);
      return v;
    },
  };
}
