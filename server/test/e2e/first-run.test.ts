// The first run as a new user sees it: `make run` on a terminal (a real pseudo-terminal from
// util-linux `script`), embedded PostgreSQL, fresh data directory. Readable log lines, no request
// logs, the console URL and one-time login printed last and within 30 lines after "ready"; Ctrl-C
// stops Parley first and the embedded PostgreSQL after it, with no warnings on the way.
// (Issue 13, point 6. Before: one JSON line per request buried the password, and Ctrl-C hit
// PostgreSQL too, which logged "connection lost" warnings.)
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/platform/embedded-postgres.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const dataDir = mkdtempSync(path.join(tmpdir(), 'parley-first-run-'));
chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as "postgres" and must enter it
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

// eslint-disable-next-line no-control-regex
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r/g, '');

/** `make run` inside a pseudo-terminal; what it prints; keys typed at that terminal. */
function makeRunOnTerminal(port: number) {
  // -o build: the build is current (make test built it); do not rebuild while other tests run.
  const child = spawn('script', ['-qfec', 'make --no-print-directory -o build run', '/dev/null'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TERM: 'xterm-256color',
      PARLEY_PORT: String(port),
      PARLEY_DATA_DIR: dataDir,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return {
    output: () => plain(out),
    raw: () => out,
    async waitFor(re: RegExp, timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(plain(out))) {
        if (Date.now() > deadline) throw new Error(`no ${re} in:\n${plain(out).slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    /** Ctrl-C at the terminal: SIGINT to its foreground process group. */
    interrupt: () => child.stdin.write('\x03'),
    exited,
  };
}

function postmasterPid(): number | null {
  const file = path.join(dataDir, 'postgres', 'postmaster.pid');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').split('\n')[0]) : null;
}
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('make run on a terminal, first run', () => {
  it('ends with the console URL and the one-time login, within 30 lines after "ready", and Ctrl-C stops quietly', async () => {
    const port = await freePort();
    const run = makeRunOnTerminal(port);
    await run.waitFor(/You will be asked to change it/, 90_000);
    // Readable lines on a terminal, coloured; no JSON.
    expect(run.raw()).toContain('\x1b[');
    expect(run.output()).toMatch(/^\d\d:\d\d:\d\d INFO {2}Parley is ready {2}url=http:\/\/localhost:\d+$/m);
    expect(
      run
        .output()
        .split('\n')
        .filter((l) => l.trimStart().startsWith('{')),
    ).toEqual([]);

    // A person opens the console and signs in: the requests add no lines.
    const password = /Password: (\S+)/.exec(run.output())![1]!;
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/login`)).status).toBe(200);
    expect((await fetch(`${base}/api/v1/auth/me`)).status).toBe(401);
    const signIn = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password }),
    });
    expect(signIn.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));

    const lines = run.output().trimEnd().split('\n');
    const ready = lines.findIndex((l) => /Parley is ready/.test(l));
    const after = lines.slice(ready + 1, ready + 31).join('\n');
    expect(after).toMatch(/Console: {2}http:\/\/localhost:\d+/);
    expect(after).toContain('Username: admin');
    expect(after).toContain(`Password: ${password}`);
    // …and they are the last thing on screen.
    expect(lines.at(-1)).toContain('You will be asked to change it at first sign-in');
    expect(lines.slice(-4, -1).map((l) => l.trim().split(':')[0])).toEqual([
      'Console',
      'Username',
      'Password',
    ]);

    const pg = postmasterPid();
    expect(pg).not.toBeNull();
    const before = run.output().length;
    run.interrupt();
    expect(await run.exited).not.toBeNull();
    const shutdown = run.output().slice(before);
    expect(shutdown).toMatch(/Parley stopping {2}reason=SIGINT/);
    expect(shutdown).toMatch(/Parley stopped/);
    expect(shutdown).not.toMatch(/WARN|ERROR|FATAL|connection|terminat/i);
    expect(alive(pg!)).toBe(false);
  }, 120_000);

  it('on later runs ends with the console URL (no password: the admin exists)', async () => {
    const port = await freePort();
    const run = makeRunOnTerminal(port);
    await run.waitFor(/Console: {2}http/, 60_000);
    await new Promise((r) => setTimeout(r, 500));
    const lines = run.output().trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(/Console: {2}http:\/\/localhost:\d+/);
    expect(run.output()).not.toContain('Password:');
    run.interrupt();
    await run.exited;
    expect(run.output()).toMatch(/Parley stopped/);
  }, 90_000);

  it('off a terminal (a pipe, a service manager) writes JSON lines and no welcome block', async () => {
    const port = await freePort();
    const child = spawn('make', ['--no-print-directory', '-o', 'build', 'run'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        PARLEY_PORT: String(port),
        PARLEY_DATA_DIR: dataDir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const deadline = Date.now() + 60_000;
    while (!out.includes('Parley is ready')) {
      if (Date.now() > deadline) throw new Error(`not ready:\n${out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await fetch(`http://127.0.0.1:${port}/healthz`);
    await new Promise((r) => setTimeout(r, 300));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    children.delete(child);
    // make echoes its command first; everything Parley wrote is one JSON object per line.
    const lines = out.trim().split('\n').slice(1);
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    expect(out).not.toContain('Console:');
  }, 90_000);
});
