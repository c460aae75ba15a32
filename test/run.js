#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with Node's test runner.
// Usage: node test/run.js [unit|netns|...]  (default: all suites). Namespace suites run one file at a
// time: they start real processes and measure real traffic on a 2-core machine.
'use strict';
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const root = join(__dirname, '..', 'dist', 'test');
const suites = process.argv.slice(2);
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
}
walk(root);
const picked = suites.length ? files.filter((f) => suites.some((s) => f.includes(`/test/${s}/`))) : files;
if (picked.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...picked], { stdio: 'inherit' });
process.exit(r.status ?? 1);
