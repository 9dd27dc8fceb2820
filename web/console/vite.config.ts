// Builds the agent console into web/console/dist; the Parley server serves it (console.plugin.ts):
// hashed files under /assets/ get a year-long immutable cache, index.html always revalidates.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const elementPlus = fileURLToPath(new URL('../../node_modules/element-plus/es/components/', import.meta.url));

/**
 * Element Plus styles on demand: every `import { ElButton, vLoading } from 'element-plus'` in the
 * console also imports those components' CSS (which brings the base styles and the styles of
 * the components they use), so a page loads the CSS of what it shows instead of the whole theme.
 */
function elementPlusStyles(): Plugin {
  const kebab = (name: string) =>
    name
      .replace(/^(El|v)/, '')
      .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
      .toLowerCase();
  return {
    name: 'parley-element-plus-styles',
    enforce: 'pre',
    transform(code, id) {
      if (!/\/web\/console\/src\/.*\.(vue|ts)$/.test(id)) return null;
      return code.replace(/import \{([^}]*)\} from 'element-plus';/g, (statement, names: string) => {
        const styles = names
          .split(',')
          .map((n) => n.trim())
          .filter((n) => /^(El[A-Z]|vLoading$)/.test(n))
          .map(kebab)
          .filter((dir) => existsSync(`${elementPlus}${dir}/style/css.mjs`))
          .map((dir) => `import 'element-plus/es/components/${dir}/style/css';`);
        return [statement, ...styles].join('\n');
      });
    },
  };
}

export default defineConfig({
  root: here,
  base: '/',
  // Absolute URLs in templates (/favicon.svg) are files in public/, served as they are.
  plugins: [elementPlusStyles(), vue({ template: { transformAssetUrls: { includeAbsolute: false } } })],
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
