#!/usr/bin/env node
// Draws PeerMesh's icons (committed PNGs; run again only to change them): the tray icon per
// connection state (16 px and 32 px @2x) and the app icon (16-512 px, electron-builder's Linux icon
// set). A mesh glyph: three linked nodes in a disc, grey / amber / green / red by state.
// Plain Node (zlib for PNG's deflate), anti-aliased by 4x4 supersampling.
'use strict';
const { writeFileSync, mkdirSync } = require('node:fs');
const { join } = require('node:path');
const zlib = require('node:zlib');

const CRC = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
function crc32(buf) {
  let c = -1;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function png(size, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc((size * 4 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const COLORS = {
  disconnected: [120, 128, 140],
  connecting: [224, 160, 32],
  connected: [34, 160, 90],
  error: [210, 50, 50],
  app: [37, 99, 235],
};
// the glyph in unit coordinates (0..1): three nodes and their links
const NODES = [
  [0.5, 0.27],
  [0.29, 0.66],
  [0.71, 0.66],
];

function segDist(px, py, [ax, ay], [bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

function draw(size, color) {
  const out = Buffer.alloc(size * size * 4);
  const S = 4;
  const nodeR = size <= 16 ? 0.13 : 0.11;
  const line = size <= 16 ? 0.07 : 0.05;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      let disc = 0;
      let glyph = 0;
      for (let sy = 0; sy < S; sy++)
        for (let sx = 0; sx < S; sx++) {
          const u = (x + (sx + 0.5) / S) / size;
          const v = (y + (sy + 0.5) / S) / size;
          if (Math.hypot(u - 0.5, v - 0.5) <= 0.48) {
            disc++;
            const onNode = NODES.some(([nx, ny]) => Math.hypot(u - nx, v - ny) <= nodeR);
            const onLink =
              segDist(u, v, NODES[0], NODES[1]) <= line / 2 ||
              segDist(u, v, NODES[1], NODES[2]) <= line / 2 ||
              segDist(u, v, NODES[2], NODES[0]) <= line / 2;
            if (onNode || onLink) glyph++;
          }
        }
      const a = disc / (S * S);
      const g = disc ? glyph / disc : 0;
      const i = (y * size + x) * 4;
      out[i] = Math.round(color[0] * (1 - g) + 255 * g);
      out[i + 1] = Math.round(color[1] * (1 - g) + 255 * g);
      out[i + 2] = Math.round(color[2] * (1 - g) + 255 * g);
      out[i + 3] = Math.round(255 * a);
    }
  return png(size, out);
}

const dir = join(__dirname, 'icons');
mkdirSync(join(dir, 'app'), { recursive: true });
for (const state of ['disconnected', 'connecting', 'connected', 'error']) {
  writeFileSync(join(dir, `tray-${state}.png`), draw(16, COLORS[state]));
  writeFileSync(join(dir, `tray-${state}@2x.png`), draw(32, COLORS[state]));
}
for (const s of [16, 32, 48, 64, 128, 256, 512])
  writeFileSync(join(dir, 'app', `${s}x${s}.png`), draw(s, COLORS.app));
console.log(`icons written to ${dir}`);
