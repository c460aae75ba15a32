// The layer rule of main/ (docs/control.md, "Layers"): every import points down the order
//   core  <-  io, metrics  <-  control  <-  node  <-  cli, app
// (core: the sans-IO protocol; io: sockets, the helper, files; metrics: the sans-IO per-peer history
// (main/metrics/, beside io: neither imports the other); control: the Control API contract, its
// schemas and transports, knowing nothing of the node; node: a running node and the app's manager,
// implementing the contract's handlers; cli and app: the two front ends, which do not import each
// other). This test reads the import statements of every file under main/ (static, dynamic, require,
// type-only: a type is a dependency too) and fails on one that points up or sideways. The renderer
// may take types only from main/.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(__dirname, '..', '..', '..');
const MAIN = join(ROOT, 'main');

/** Layer -> rank; a file may import its own layer and lower ranks only (layers of one rank: neither). */
const LAYERS: Record<string, number> = { core: 0, io: 1, metrics: 1, control: 2, node: 3, cli: 4, app: 4 };

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.(ts|tsx)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every module specifier a file names, with whether the import is type-only. */
function importsOf(text: string): { spec: string; typeOnly: boolean }[] {
  const out: { spec: string; typeOnly: boolean }[] = [];
  // import ... from '...' / export ... from '...' (possibly over several lines)
  const fromRe = /^\s*(import|export)\s+(type\s+)?[^;'"]*?\sfrom\s+['"]([^'"]+)['"]/gm;
  for (const m of text.matchAll(fromRe)) out.push({ spec: m[3], typeOnly: !!m[2] });
  for (const m of text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) out.push({ spec: m[1], typeOnly: false });
  // import('...') (also in types: import('../x').T) and require('...')
  for (const m of text.matchAll(/\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g))
    out.push({ spec: m[1], typeOnly: false });
  return out;
}

/** An import from one layer to another that breaks the order (up, sideways or to no layer). */
function violates(from: string, to: string): boolean {
  return from !== to && (!(to in LAYERS) || !(from in LAYERS) || LAYERS[to] >= LAYERS[from]);
}

/** The layer of a path under main/, or null outside main/. */
function layerOf(path: string): string | null {
  const rel = relative(MAIN, path);
  if (rel.startsWith('..')) return null;
  return rel.split(sep)[0];
}

describe('layers', () => {
  it('every directory under main/ has a place in the order', () => {
    for (const name of readdirSync(MAIN))
      if (statSync(join(MAIN, name)).isDirectory())
        assert.ok(name in LAYERS, `main/${name} has no layer: give it a rank in LAYERS and docs/control.md`);
  });

  it('no file under main/ imports a layer above its own, or a sideways one', () => {
    const wrong: string[] = [];
    let arrows = 0;
    for (const file of sources(MAIN)) {
      const from = layerOf(file)!;
      for (const { spec } of importsOf(readFileSync(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue; // node: built-ins and packages
        const to = layerOf(resolve(dirname(file), spec));
        if (to === null) {
          wrong.push(`${relative(ROOT, file)} imports ${spec}, outside main/`);
          continue;
        }
        if (to === from) continue;
        arrows++;
        if (violates(from, to)) wrong.push(`${relative(ROOT, file)} (${from}) imports ${spec} (${to})`);
      }
    }
    assert.ok(arrows > 20, `only ${arrows} imports between layers found: is the parser reading the files?`);
    assert.deepEqual(wrong, []);
  });

  it('the renderer takes from main/ only types, and code only from modules that import nothing but types', () => {
    const wrong: string[] = [];
    let shared = 0;
    for (const file of sources(join(ROOT, 'renderer', 'src')))
      for (const { spec, typeOnly } of importsOf(readFileSync(file, 'utf8'))) {
        if (!/(^|\/)main\//.test(spec) || !spec.startsWith('.') || typeOnly) continue;
        // Code from main/ enters the bundle only from a pure module: one whose own imports are all
        // type-only (no Node code can follow it in).
        const target = `${resolve(dirname(file), spec)}.ts`;
        const impure = importsOf(readFileSync(target, 'utf8')).filter((i) => !i.typeOnly);
        if (impure.length)
          wrong.push(`${relative(ROOT, file)} imports ${spec}, which imports ${impure[0].spec}`);
        else shared++;
      }
    assert.deepEqual(wrong, []);
    assert.ok(shared >= 1, 'the shared notification rules are found');
  });

  it('the parser sees every form of import, and the rule catches an upward one', () => {
    const text = [
      "import { a } from '../core/ip';",
      "import type {\n  B,\n  C,\n} from '../node/node';",
      "export { d } from './x';",
      "import './side-effect';",
      "const m = await import('../app/main');",
      "const r = require('../cli/peermesh');",
    ].join('\n');
    assert.deepEqual(importsOf(text), [
      { spec: '../core/ip', typeOnly: false },
      { spec: '../node/node', typeOnly: true },
      { spec: './x', typeOnly: false },
      { spec: './side-effect', typeOnly: false },
      { spec: '../app/main', typeOnly: false },
      { spec: '../cli/peermesh', typeOnly: false },
    ]);
    for (const [from, to] of [
      ['core', 'io'],
      ['core', 'node'],
      ['io', 'control'],
      ['control', 'node'],
      ['node', 'cli'],
      ['cli', 'app'],
      ['app', 'cli'],
      ['node', 'nowhere'],
    ])
      assert.equal(violates(from, to), true, `${from} -> ${to}`);
    for (const [from, to] of [
      ['io', 'core'],
      ['control', 'core'],
      ['node', 'control'],
      ['cli', 'node'],
      ['app', 'control'],
    ])
      assert.equal(violates(from, to), false, `${from} -> ${to}`);
  });
});
