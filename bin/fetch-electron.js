#!/usr/bin/env node
// Electron's binary for the desktop app, fetched by Electron's own installer
// (node_modules/electron/install.js: does nothing when the binary is there or
// ELECTRON_SKIP_BINARY_DOWNLOAD is set, otherwise downloads it from Electron's release host).
//
// package.json's "allowScripts" keeps npm from running that installer as electron's postinstall,
// where a machine that cannot reach the download host failed the whole `npm ci`. Instead:
//   node bin/fetch-electron.js --optional   (package.json "postinstall") downloads where it can, and
//       otherwise says so in one line and exits 0: the CLI, the web UI and the tests need no binary;
//   node bin/fetch-electron.js              (package.json "start") downloads or fails: the app needs it.
'use strict';
const { spawnSync } = require('node:child_process');

const optional = process.argv.includes('--optional');
let installer;
try {
  installer = require.resolve('electron/install.js');
} catch {
  // Not installed at all (`npm ci --omit=dev`): nothing to fetch for.
  if (optional) process.exit(0);
  console.error('peermesh: the electron package is not installed (run npm install)');
  process.exit(1);
}
const r = spawnSync(process.execPath, [installer], {
  stdio: ['ignore', 'inherit', optional ? 'pipe' : 'inherit'],
  encoding: 'utf8',
});
if (r.status === 0) process.exit(0);
if (!optional) process.exit(r.status ?? 1);
const why = (r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`).trim().split('\n')[0];
console.error(
  `peermesh: Electron's binary could not be downloaded (${why}); everything but the desktop app ` +
    'works without it, and `npm start` tries again.',
);
