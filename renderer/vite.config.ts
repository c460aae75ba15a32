// Builds the renderer into renderer/dist. The page is served under a strict CSP (script-src 'self',
// no eval, no inline scripts), so the output must be plain external module scripts and stylesheets;
// base './' keeps every URL relative, for the web UI server and for the desktop app's file:// loads alike.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = decodeURIComponent(new URL('.', import.meta.url).pathname);

export default defineConfig({
  root,
  // caches go with the repo's other dependencies, not into a node_modules inside renderer/
  cacheDir: '../node_modules/.vite/renderer',
  base: './',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No inlined assets or module-preload polyfill: nothing that would need an inline script.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
