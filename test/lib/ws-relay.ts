// Run inside a test namespace (`ip netns exec NS node dist/test/lib/ws-relay.js URL`): connects to a
// node's web UI WebSocket as a browser would (token as Bearer, the server's own Origin) and relays
// JSON lines: stdin -> socket, socket -> stdout. Lets a test in the root namespace drive the Control
// API of a node whose web UI listens on the namespace's loopback.
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const url = new URL(process.argv[2]);
// the printed link carries the token in its fragment (#token=...)
const token = new URLSearchParams(url.hash.slice(1)).get('token') ?? '';
const ws = new WebSocket(`ws://${url.host}/api`, {
  headers: { Authorization: `Bearer ${token}`, Origin: `http://${url.host}` },
});
ws.on('open', () => process.stdout.write(`${JSON.stringify({ relay: 'open' })}\n`));
ws.on('message', (d) => process.stdout.write(`${d.toString()}\n`));
ws.on('close', () => process.exit(0));
ws.on('error', (e) => {
  process.stdout.write(`${JSON.stringify({ relay: 'error', message: e.message })}\n`);
  process.exit(1);
});
createInterface({ input: process.stdin }).on('line', (l) => {
  if (ws.readyState === ws.OPEN) ws.send(l);
});
process.stdin.on('end', () => ws.close());
