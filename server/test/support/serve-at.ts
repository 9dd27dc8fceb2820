// `parley serve` from any code tree (this checkout, or an earlier release checked out from git),
// for tests that watch start-up itself: readiness, or a refusal to start and its message.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll } from 'vitest';
import { freePort } from '../../src/platform/embedded-postgres.ts';

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const c of running) c.kill('SIGKILL');
});

export interface StartedServe {
  base: string;
  output(): string;
  exitCode(): number | null;
  exited: Promise<void>;
  /** Polls /readyz until 200, the process exits, or the timeout; returns the last answer. */
  readiness(timeoutMs?: number): Promise<{ status: number; body: string } | null>;
  stop(): Promise<void>;
}

export async function serveAt(
  root: string,
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<StartedServe> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(root, 'server/src/cli/main.ts'), 'serve'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: databaseUrl,
      PARLEY_HOST: '127.0.0.1',
      PARLEY_PORT: String(port),
      PARLEY_LOG_LEVEL: 'info',
      PARLEY_ENV_FILE: '/nonexistent',
      PARLEY_INITIAL_ADMIN_PASSWORD: 'serve-at-admin-password-0123',
      PARLEY_SHUTDOWN_TIMEOUT_SECONDS: '2',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let exitCode: number | null = null;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      running.delete(child);
      resolve();
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    output: () => output,
    exitCode: () => exitCode,
    exited,
    async readiness(timeoutMs = 45_000) {
      const deadline = Date.now() + timeoutMs;
      let last: { status: number; body: string } | null = null;
      while (Date.now() < deadline && exitCode === null) {
        try {
          const res = await fetch(`${base}/readyz`);
          last = { status: res.status, body: await res.text() };
          if (last.status === 200) return last;
        } catch {
          /* not listening yet */
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      return last;
    },
    async stop() {
      if (exitCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
