// Builds the chat frame (frame.html + hashed assets under /widget/assets/) into web/widget/dist.
// The loader (widget.js) has its own build: vite.loader.config.ts. No framework: the frame
// must stay under 60 KB gzipped (make widget-size).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/widget/',
  server: { fs: { allow: [fileURLToPath(new URL('../..', import.meta.url))] } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    // The frame's CSP allows scripts and styles from 'self' only: nothing inline.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    rollupOptions: { input: { frame: fileURLToPath(new URL('frame.html', import.meta.url)) } },
  },
});
