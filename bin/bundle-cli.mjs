// Build step (npm run build:ts, after tsc): bundle the CLI (dist/main/cli/main.js and the modules it
// loads) into dist/main/cli/peermesh.js with rolldown, then write V8's code cache of it beside it
// (main/cli/launch.ts says why and how bin/peermesh uses both). Addons stay outside the bundle
// (sodium-native finds its prebuilt binary next to its own files); so do Node's built-ins.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cliDir = join(root, 'dist', 'main', 'cli');
const out = join(cliDir, 'peermesh.js');
rmSync(`${out}.cache`, { force: true });

const bundle = await rolldown({
  input: join(cliDir, 'main.js'),
  platform: 'node',
  // electron: never loaded by the CLI; bufferutil/utf-8-validate: ws's optional addons.
  external: [/^node:/, 'sodium-native', 'electron', 'bufferutil', 'utf-8-validate'],
  logLevel: 'warn',
});
await bundle.write({ file: out, format: 'cjs', codeSplitting: false, sourcemap: false });
await bundle.close();

// In a fresh process: the cache must be made with the V8 flags a CLI start has (the defaults).
const size = execFileSync(
  process.execPath,
  ['-e', `require(${JSON.stringify(join(cliDir, 'launch.js'))}).writeCache().then((n) => console.log(n))`],
  { encoding: 'utf8' },
).trim();
process.stdout.write(`bundle-cli: ${out} and its code cache (${Math.round(Number(size) / 1024)} KiB)\n`);
