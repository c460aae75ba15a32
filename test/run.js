#!/usr/bin/env node
// Runs the compiled test files (dist/test/**/*.test.js) with Node's test runner, one file at a time:
// namespace suites start real processes and measure real traffic on a 2-core machine.
// Usage: node test/run.js [unit|sim|netns|...]   the named suites (default: every suite; npm test)
//        node test/run.js --quick                the inner loop (npm run test:quick): the unit tests,
//            the simulator at 300 nodes (unless PEERMESH_SIM_NODES says otherwise) and one namespace
//            test, the tunnel (real nodes, TUN, status, restart, kill -9 cleanup)
'use strict';
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const QUICK = ['/test/unit/', '/test/sim/', '/test/netns/tunnel.test.js'];

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
const wanted = quick ? QUICK : suites.map((s) => `/test/${s}/`);
const picked = wanted.length ? files.filter((f) => wanted.some((w) => f.includes(w))) : files;
if (picked.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
const env = quick
  ? { ...process.env, PEERMESH_SIM_NODES: process.env.PEERMESH_SIM_NODES || '300' }
  : process.env;
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...picked], {
  stdio: 'inherit',
  env,
});
process.exit(r.status ?? 1);
