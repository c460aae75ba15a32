#!/usr/bin/env node
// Runs the compiled test files (dist/test/**/*.test.js) with Node's test runner, one file at a time:
// namespace suites start real processes and measure real traffic on a 2-core machine.
// Usage: node test/run.js [unit|sim|netns|...]   the named suites (default: every suite; npm test)
//        node test/run.js --quick                the inner loop (npm run test:quick): the unit tests
//            and the simulator at 300 nodes (unless PEERMESH_SIM_NODES says otherwise), two files at a
//            time, then one namespace test, the tunnel (real nodes, TUN, status, restart, kill -9)
// Data paths (not with --quick): the namespace suites run on the native data path (the addon, the
// nodes' default), then once more with the TypeScript fallback forced (PEERMESH_DATAPLANE=off).
// PEERMESH_TEST_PATHS=native|fallback|both (default both) picks. Where the addon is not built, the
// nodes run the fallback anyway: one pass. PEERMESH_DATAPLANE set by the caller decides alone: one pass.
'use strict';
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

// --quick: [files, how many at a time]; namespace tests always one at a time.
const QUICK = [
  [['/test/unit/', '/test/sim/'], 2],
  [['/test/netns/tunnel.test.js'], 1],
];
const NETNS = '/test/netns/';

const root = join(__dirname, '..', 'dist', 'test');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const suites = args.filter((a) => a !== '--quick');
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
}
walk(root);
const pick = (wanted) => (wanted.length ? files.filter((f) => wanted.some((w) => f.includes(w))) : files);
function noFiles() {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}

/** [header or null, files, how many at a time, environment] per pass. */
const runs = [];
if (quick) {
  const env = { ...process.env, PEERMESH_SIM_NODES: process.env.PEERMESH_SIM_NODES || '300' };
  for (const [w, n] of QUICK) runs.push([null, pick(w), n, env]);
  if (runs.some(([, picked]) => picked.length === 0)) noFiles();
} else {
  const picked = pick(suites.map((s) => `/test/${s}/`));
  if (picked.length === 0) noFiles();
  const netns = picked.filter((f) => f.includes(NETNS));
  const paths = process.env.PEERMESH_TEST_PATHS || 'both';
  if (!['native', 'fallback', 'both'].includes(paths)) {
    console.error(`PEERMESH_TEST_PATHS=${paths}: expected native, fallback or both`);
    process.exit(2);
  }
  // Where the nodes look for the addon (main/io/dataplane.ts), from the build under test.
  const addon = existsSync(join(root, '..', 'main', 'io', 'dataplane.js'))
    ? require(join(root, '..', 'main', 'io', 'dataplane.js')).dataplanePath()
    : '';
  const built = addon !== '' && existsSync(addon);
  const forced = process.env.PEERMESH_DATAPLANE;
  let native = paths !== 'fallback';
  let fallback = paths !== 'native';
  if (netns.length && forced) {
    console.log(`# namespace suites with PEERMESH_DATAPLANE=${forced} as set (one pass)`);
    native = true;
    fallback = false;
  } else if (netns.length && !built) {
    if (paths === 'native') {
      console.error(`PEERMESH_TEST_PATHS=native, but the data plane addon is not built (${addon})`);
      process.exit(2);
    }
    console.log(
      `# the data plane addon is not built (${addon}): the namespace suites run on the TypeScript path`,
    );
    native = true;
    fallback = false;
  }
  runs.push([null, native ? picked : picked.filter((f) => !f.includes(NETNS)), 1, process.env]);
  if (netns.length && fallback)
    runs.push([
      `# namespace suites ${native ? 'again ' : ''}with the TypeScript fallback (PEERMESH_DATAPLANE=off)`,
      netns,
      1,
      { ...process.env, PEERMESH_DATAPLANE: 'off' },
    ]);
}
let status = 0;
for (const [header, picked, n, env] of runs) {
  if (picked.length === 0) continue;
  if (header) console.log(header);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${n}`, ...picked], {
    stdio: 'inherit',
    env,
  });
  if (header)
    console.log(
      `# ${header.slice(2)}: ${r.status === 0 ? 'passed' : 'FAILED'} in ${Math.round((Date.now() - t0) / 1000)} s`,
    );
  if (r.status !== 0) {
    status = r.status ?? 1;
    // --quick stops at the first failure; a full run still tries the other data path (CI sees both).
    if (quick) break;
  }
}
process.exit(status);
