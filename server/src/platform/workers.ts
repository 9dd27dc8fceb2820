// PARLEY_WORKERS > 1: several identical server processes on one machine sharing the port
// (node:cluster; the primary accepts connections and hands them out round-robin). Each worker
// is a complete replica — its own pool, hub and LISTEN connection — coordinated with the others
// through PostgreSQL exactly like replicas on several machines (NOTIFY fan-out, catch-up by
// seq, advisory locks for migrations, the first admin and jobs). The primary only forks,
// restarts a worker that dies, and stops them all on SIGTERM/SIGINT.
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';

const RESTART_DELAY_MS = 1000;

export async function runWorkers(config: Readonly<Config>, logger: Logger): Promise<void> {
  if (!config.databaseUrl) {
    logger.fatal(
      'PARLEY_WORKERS > 1 needs DATABASE_URL: the processes share one PostgreSQL (the embedded one is for trying Parley out with one process)',
    );
    process.exitCode = 1;
    return;
  }
  // Round-robin in the primary (the default on Linux, set explicitly for other platforms).
  cluster.schedulingPolicy = cluster.SCHED_RR;
  let stopping = false;
  let stopAll: ((signal: NodeJS.Signals) => void) | undefined;
  const fork = () => {
    const w = cluster.fork();
    let listened = false;
    w.once('listening', () => (listened = true));
    w.on('exit', (code, signal) => {
      if (stopping) return;
      if (!listened) {
        // It never got as far as listening (bad configuration, port taken …): starting it
        // again would fail the same way, every second. Stop everything and report it.
        logger.fatal({ worker: w.process.pid, code, signal }, 'a server process failed to start; stopping');
        process.exitCode = 1;
        stopAll?.('SIGTERM');
        return;
      }
      logger.error({ worker: w.process.pid, code, signal }, 'server process died; starting another');
      setTimeout(() => {
        if (!stopping) fork();
      }, RESTART_DELAY_MS);
    });
    return w;
  };
  for (let i = 0; i < config.workers; i++) fork();
  logger.info({ workers: config.workers }, 'started the server processes');

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping the server processes');
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      let left = workers.length;
      if (left === 0) return resolve();
      const hard = setTimeout(
        () => {
          for (const w of workers) w.process.kill('SIGKILL');
        },
        (config.shutdownTimeoutSeconds + 5) * 1000,
      );
      hard.unref();
      for (const w of workers) {
        w.once('exit', () => {
          if (--left === 0) {
            clearTimeout(hard);
            resolve();
          }
        });
        // Each worker shuts down gracefully on SIGTERM (close-with-grace in serve()).
        w.process.kill('SIGTERM');
      }
    };
    stopAll = stop;
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
