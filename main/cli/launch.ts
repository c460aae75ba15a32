// How bin/peermesh loads the CLI: from one bundled file (dist/main/cli/peermesh.js, made by
// bin/bundle-cli.mjs at build time) compiled with V8's code cache made beside it at build time, or,
// without them (not built, PEERMESH_NO_BUNDLE=1), from the modules as tsc wrote them.
//
// Why: a node's start is mostly loading and compiling JavaScript; with three nodes starting on a
// 2-core machine that is what the first packet waits for. The bundle saves resolving ~100 files, the
// code cache compiling them: ~80 ms of CPU per start here (docs/mesh.md "The first packets").
//
// The cache is code: it is only ever read here, never written at run time (a cache another user
// could write would run as the node). V8 refuses a cache made by another V8 or with other flags
// (`cachedDataRejected`); then the bundle is compiled as usual. V8 checks only the source's length,
// so the cache starts with the SHA-256 of the bundle it was made from: a cache left beside another
// bundle is not used.

import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import vm from 'node:vm';

export const BUNDLE = join(__dirname, 'peermesh.js');
export const CACHE = `${BUNDLE}.cache`;

type CliModule = { main(argv: string[]): Promise<void>; warmUp(): Promise<void> };

export interface LoadedCli {
  cli: CliModule;
  from: 'bundle' | 'modules';
  /** With the bundle: whether V8 used the code cache (false: none, or refused). */
  cached: boolean;
}

function readOrNull(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

/** Compile and run the bundle as a CommonJS module of its own file. */
function runBundle(source: string, cachedData?: Buffer): { cli: CliModule; script: vm.Script } {
  // The wrapper CommonJS gives every module (exports, require, module, __filename, __dirname).
  const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
  const script = new vm.Script(wrapped, { filename: BUNDLE, cachedData });
  const mod = { exports: {} as CliModule, filename: BUNDLE, id: BUNDLE, loaded: false };
  const fn = script.runInThisContext() as (...a: unknown[]) => void;
  fn.call(mod.exports, mod.exports, createRequire(BUNDLE), mod, BUNDLE, __dirname);
  mod.loaded = true;
  return { cli: mod.exports, script };
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

/**
 * The bundle's text. The build writes it in ASCII (bin/bundle-cli.mjs): read as Latin-1, a one-byte
 * string, ~2 ms here for the 1 MB; decoding UTF-8 makes a two-byte string of any text that is not
 * all ASCII, 5-14 ms. UTF-8 all the same when a bundle is not ASCII.
 */
function text(source: Buffer): string {
  return isAscii(source) ? source.toString('latin1') : source.toString('utf8');
}

/**
 * The bundle, unless turned off or older than the modules: `tsc` alone (without the bundling step
 * of npm run build:ts) rewrites every module, and then the modules are what was just built.
 */
function currentBundle(): Buffer | null {
  if (process.env.PEERMESH_NO_BUNDLE === '1') return null;
  try {
    if (statSync(BUNDLE).mtimeMs < statSync(join(__dirname, 'main.js')).mtimeMs) return null;
  } catch {
    return null;
  }
  return readOrNull(BUNDLE);
}

export function loadCli(): LoadedCli {
  const source = currentBundle();
  if (!source) return { cli: require('./main') as CliModule, from: 'modules', cached: false };
  const file = readOrNull(CACHE);
  const cachedData =
    file && file.length > 32 && file.subarray(0, 32).equals(sha256(source)) ? file.subarray(32) : undefined;
  const { cli, script } = runBundle(text(source), cachedData);
  return { cli, from: 'bundle', cached: !!cachedData && !script.cachedDataRejected };
}

/**
 * Build time (bin/bundle-cli.mjs, in a fresh process so that V8's flags are the defaults a CLI
 * start sees): run the bundle, load what `peermesh up` loads and run its start in memory (warmUp),
 * and write V8's code cache of everything compiled so far.
 */
export async function writeCache(): Promise<number> {
  const source = readFileSync(BUNDLE);
  const { cli, script } = runBundle(text(source));
  await cli.warmUp();
  const data = Buffer.concat([sha256(source), script.createCachedData()]);
  writeFileSync(CACHE, data, { mode: 0o644 });
  return data.length;
}
