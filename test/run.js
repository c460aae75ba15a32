#!/usr/bin/env node
// Runs the compiled test files (dist/test/**/*.test.js) with Node's test runner, one file at a time:
// namespace suites start real processes and measure real traffic on a 2-core machine.
// Usage: node test/run.js [unit|sim|netns|...]   the named suites (default: every suite; npm test)
//        node test/run.js --quick                the inner loop (npm run test:quick): the unit tests
//            and the simulator at 300 nodes (unless PEERMESH_SIM_NODES says otherwise), two files at a
//            time, then one namespace test, the tunnel (real nodes, TUN, status, restart, kill -9)
'use strict';
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

// --quick: [files, how many at a time]; namespace tests always one at a time.
const QUICK = [
  [['/test/unit/', '/test/sim/'], 2],
  [['/test/netns/tunnel.test.js'], 1],
];

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
const runs = quick ? QUICK.map(([w, n]) => [pick(w), n]) : [[pick(suites.map((s) => `/test/${s}/`)), 1]];
if (runs.some(([picked]) => picked.length === 0)) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
const env = quick
  ? { ...process.env, PEERMESH_SIM_NODES: process.env.PEERMESH_SIM_NODES || '300' }
  : process.env;
for (const [picked, n] of runs) {
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${n}`, ...picked], {
    stdio: 'inherit',
    env,
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
