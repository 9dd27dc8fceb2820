// Runs real `parley` processes for end-to-end tests and reads what they print.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../../..');
export const CLI = path.resolve(import.meta.dirname, '../../src/cli/main.ts');

/**
 * How long a real Parley process may take to start and get ready. Generous: on a loaded 2-core
 * machine a start takes several times what it takes on a quiet one, and a deadline only matters
 * when something is wrong (then the wait ends with the process's output).
 */
export const PROCESS_START_MS = 90_000;
/** The test timeout for a test that starts Parley processes: a few starts and the work between. */
export const PROCESS_TEST_MS = 4 * PROCESS_START_MS;

export interface ParleyProcess {
  proc: ChildProcess;
  output(): string;
  /** Resolves with the first stdout/stderr line matching, or rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** The port from the "listening" log line. */
  port(): Promise<number>;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const p of running) p.kill('SIGKILL');
});

export function runParley(args: string[], env: Record<string, string | undefined>): ParleyProcess {
  const proc = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PARLEY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let text = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const w of [...waiters]) {
      const line = text.split('\n').find((l) => w.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const started = Date.now();
  let stoppedAt = started;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) => {
    proc.on('exit', (code, signal) => {
      running.delete(proc);
      resolve({ code, signal, ms: Date.now() - stoppedAt });
    });
  });

  const self: ParleyProcess = {
    proc,
    output: () => text,
    waitFor(pattern, timeoutMs = PROCESS_START_MS) {
      const line = text.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) return Promise.resolve(line);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${pattern}; output:\n${text}`)),
          timeoutMs,
        );
        const w = {
          pattern,
          resolve: (l: string) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        waiters.push(w);
        void exit.then(() => {
          if (waiters.includes(w)) {
            clearTimeout(timer);
            reject(new Error(`process exited while waiting for ${pattern}; output:\n${text}`));
          }
        });
      });
    },
    async port() {
      const line = await self.waitFor(/"msg":"listening"/);
      return (JSON.parse(line) as { port: number }).port;
    },
    exited: () => exit,
    async stop(signal = 'SIGTERM') {
      stoppedAt = Date.now();
      proc.kill(signal);
      return exit;
    },
  };
  return self;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the JSON under test
type Json = any;

export async function getJson(port: number, urlPath: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`);
  return { status: res.status, body: await res.json().catch(() => null) };
}

export async function eventually<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
}

export interface CommandRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to its end (never throws on its exit status): the deploy tests run the installer,
 * helm and scripts as real processes and check what they print and how they exit.
 */
export function runCommand(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<CommandRun> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd: opts.cwd ?? ROOT,
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 90_000,
        maxBuffer: 16 << 20,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
