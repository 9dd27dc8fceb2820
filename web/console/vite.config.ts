// Builds the agent console into web/console/dist; the Parley server serves it (console.plugin.ts):
// hashed files under /assets/ get a year-long immutable cache, index.html always revalidates.
import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  // Absolute URLs in templates (/favicon.svg) are files in public/, served as they are.
  plugins: [vue({ template: { transformAssetUrls: { includeAbsolute: false } } })],
  // The console imports a few pure modules from the server (placeholder filling, API types).
  server: { fs: { allow: [fileURLToPath(new URL('../..', import.meta.url))] } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    chunkSizeWarningLimit: 1500,
    // No inline scripts: the server's CSP allows scripts from 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  define: {
    __VUE_OPTIONS_API__: 'false',
    __VUE_PROD_DEVTOOLS__: 'false',
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
  },
});
