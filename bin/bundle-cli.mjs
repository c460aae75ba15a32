// Build step (npm run build:ts, after tsc): bundle the CLI (dist/main/cli/main.js and the modules it
// loads) into dist/main/cli/peermesh.js with rolldown, then write V8's code cache of it beside it
// (main/cli/launch.ts says why and how bin/peermesh uses both). Node's built-ins stay outside it, and
// so do addons: sodium-native's JavaScript is bundled, but its binary is loaded from its package's
// prebuilds/<platform>-<arch>/ directly (require-addon's resolver took ~25 ms of every start), and
// through sodium-native's own loader when that file is not there.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cliDir = join(root, 'dist', 'main', 'cli');
const out = join(cliDir, 'peermesh.js');
rmSync(`${out}.cache`, { force: true });

/** sodium-native's `require('./binding')`, replaced by a direct load of its prebuilt binary. */
function sodiumBinding() {
  const id = '\0sodium-binding';
  return {
    name: 'sodium-binding',
    resolveId(source, importer) {
      if (source === './binding' && importer && /[\\/]sodium-native[\\/]index\.js$/.test(importer)) return id;
      return null;
    },
    load(loaded) {
      if (loaded !== id) return null;
      return `const { dirname, join } = require('node:path');
let binding;
try {
  const dir = dirname(require.resolve('sodium-native/package.json'));
  binding = require(join(dir, 'prebuilds', process.platform + '-' + process.arch, 'sodium-native.node'));
} catch {
  binding = require('sodium-native/binding.js');
}
module.exports = binding;`;
    },
  };
}

const bundle = await rolldown({
  input: join(cliDir, 'main.js'),
  platform: 'node',
  // electron: never loaded by the CLI; bufferutil/utf-8-validate: ws's optional addons.
  external: [/^node:/, 'electron', 'bufferutil', 'utf-8-validate', 'sodium-native/binding.js'],
  plugins: [sodiumBinding()],
  logLevel: 'warn',
});
const { output } = await bundle.generate({ format: 'cjs', codeSplitting: false, sourcemap: false });
await bundle.close();
// ASCII only: every other character as its \u escape (the same value in strings, templates, regular
// expressions and identifiers; only text in comments). launch.ts then reads the bundle as Latin-1,
// a one-byte string, instead of decoding UTF-8 into a two-byte one (5-14 ms of every start here).
const ascii = output[0].code.replace(
  /[\u0080-\uffff]/g,
  (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
);
writeFileSync(out, ascii);

// In a fresh process: the cache must be made with the V8 flags a CLI start has (the defaults).
const size = execFileSync(
  process.execPath,
  ['-e', `require(${JSON.stringify(join(cliDir, 'launch.js'))}).writeCache().then((n) => console.log(n))`],
  { encoding: 'utf8' },
).trim();
process.stdout.write(`bundle-cli: ${out} and its code cache (${Math.round(Number(size) / 1024)} KiB)\n`);
