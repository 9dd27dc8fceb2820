// What the console costs a browser, in gzip -9 bytes: the first load (index.html's entry script,
// its static imports and CSS) plus the route a user lands on (its lazy chunk, that chunk's static
// imports and CSS, minus what the first load already brought), and the whole build.
//   node scripts/console-size.ts            builds into a temporary directory and reports
//   node scripts/console-size.ts --json
//   node scripts/console-size.ts --max-first-load-kib 100 --max-login-kib 170   (exit 1 above; make check)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const root = path.resolve(import.meta.dirname, '..');
const out = mkdtempSync(path.join(tmpdir(), 'parley-console-size-'));
const vite = path.join(root, 'node_modules/.bin/vite');
const built = spawnSync(
  vite,
  ['build', '--config', 'web/console/vite.config.ts', '--outDir', out, '--manifest', '--logLevel', 'error'],
  { cwd: root, stdio: 'inherit' },
);
if (built.status !== 0) process.exit(built.status ?? 1);

interface Chunk {
  file: string;
  src?: string;
  isEntry?: boolean;
  imports?: string[];
  dynamicImports?: string[];
  css?: string[];
}
const manifest = JSON.parse(readFileSync(path.join(out, '.vite/manifest.json'), 'utf8')) as Record<
  string,
  Chunk
>;
const gz = new Map<string, number>();
const size = (file: string) => {
  if (!gz.has(file)) gz.set(file, gzipSync(readFileSync(path.join(out, file)), { level: 9 }).length);
  return gz.get(file)!;
};

/** The files a chunk brings with it before it can run: itself, its static imports, their CSS. */
function closure(key: string, into = new Set<string>(), seen = new Set<string>()): Set<string> {
  if (seen.has(key)) return into;
  seen.add(key);
  const chunk = manifest[key]!;
  into.add(chunk.file);
  for (const css of chunk.css ?? []) into.add(css);
  for (const imported of chunk.imports ?? []) closure(imported, into, seen);
  return into;
}
const total = (files: Iterable<string>) => [...files].reduce((sum, f) => sum + size(f), 0);

const entryKey = Object.keys(manifest).find((k) => manifest[k]!.isEntry)!;
const first = closure(entryKey);
const routes = Object.keys(manifest)
  .filter((k) => /src\/(views|layout)\/.*\.vue$/.test(k))
  .sort();
/** What landing on these route components costs on top of the first load. */
const onTop = (...names: string[]) => {
  const files = new Set<string>();
  for (const k of routes.filter((r) => names.includes(path.basename(r, '.vue')))) closure(k, files);
  return total([...files].filter((f) => !first.has(f)));
};
const report = {
  firstLoad: total(first),
  firstLoadFiles: [...first].map((f) => ({ file: f, gzip: size(f) })).sort((a, b) => b.gzip - a.gzip),
  routes: Object.fromEntries(
    routes.map((k) => {
      const extra = [...closure(k)].filter((f) => !first.has(f));
      return [path.basename(k, '.vue'), total(extra)];
    }),
  ),
  loginPage: total(first) + onTop('LoginView'),
  inboxAfterSignIn: total(first) + onTop('AppShell', 'InboxView'),
  allAssets: total(readdirSync(path.join(out, 'assets')).map((f) => `assets/${f}`)),
};
rmSync(out, { recursive: true, force: true });

if (process.argv.includes('--json')) {
  console.log(JSON.stringify(report, null, 2));
} else {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`first load (entry + static imports + CSS): ${kb(report.firstLoad)} gzipped`);
  for (const f of report.firstLoadFiles) console.log(`  ${f.file.padEnd(44)} ${kb(f.gzip)}`);
  console.log(`login page (first load + LoginView): ${kb(report.loginPage)}`);
  console.log(`inbox after sign-in (first load + AppShell + InboxView): ${kb(report.inboxAfterSignIn)}`);
  console.log('each route on top of the first load (own chunk, imports, CSS not yet loaded):');
  for (const [name, bytes] of Object.entries(report.routes)) console.log(`  ${name.padEnd(24)} ${kb(bytes)}`);
  console.log(`all assets: ${kb(report.allAssets)}`);
}

/** Budgets (make console-size, part of make check): a regression fails the build. */
function budget(flag: string): number | null {
  const i = process.argv.indexOf(flag);
  return i === -1 ? null : Number(process.argv[i + 1]) * 1024;
}
const over: string[] = [];
const firstBudget = budget('--max-first-load-kib');
const loginBudget = budget('--max-login-kib');
if (firstBudget !== null && report.firstLoad > firstBudget)
  over.push(`first load ${report.firstLoad} B > ${firstBudget} B`);
if (loginBudget !== null && report.loginPage > loginBudget)
  over.push(`login page ${report.loginPage} B > ${loginBudget} B`);
if (over.length > 0) {
  console.error(`console bundle over budget: ${over.join('; ')}`);
  process.exit(1);
}
