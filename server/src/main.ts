// `parley serve`: start-up and shutdown only. The app itself is built in app.ts.
//
// Order: config → logger → database (embedded if no DATABASE_URL) → listen → prepare the
// database in the background (version, migrations, first admin), retrying while it is down.
// /readyz answers 503 until the database is reachable and the schema current, and again
// whenever it stops being so; requests recover on their own when the database comes back.
import cluster from 'node:cluster';
import closeWithGrace from 'close-with-grace';
import type { Logger } from 'pino';
import { buildApp } from './app.ts';
import { loadConfig, type Config } from './config/config.ts';
import { createContainer } from './container.ts';
import { checkKeyCanary } from './platform/crypto/key-canary.ts';
import { checkServerVersion, describeDbError, openDatabase } from './platform/db/database.ts';
import { assertTrustworthy, migrate, migrationStatus, schemaVerdict } from './platform/db/migrator.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './platform/embedded-postgres.ts';
import { FatalStartupError } from './platform/errors.ts';
import { createLogger, describeDatabaseUrl, logFormatFor } from './platform/logger.ts';
import { PARLEY_VERSION } from './platform/version.ts';
import { runWorkers } from './platform/workers.ts';

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * The last thing start-up prints: where the console is and, on the first run, the one-time
 * administrator login. Printed after "ready" so nothing scrolls it away (request logs are off on
 * the embedded trial); without a new admin only on a terminal, so JSON log streams stay JSON.
 */
function printWelcome(
  out: NodeJS.WritableStream,
  url: string,
  admin: { username: string; password: string } | null,
) {
  const lines = admin
    ? [
        '',
        '  ┌────────────────────────────────────────────────────────────────┐',
        '  │ Parley created the first administrator. This is shown ONCE.    │',
        '  └────────────────────────────────────────────────────────────────┘',
        `    Console:  ${url}`,
        `    Username: ${admin.username}`,
        `    Password: ${admin.password}`,
        '    You will be asked to change it at first sign-in.  Stop with Ctrl-C.',
        '',
      ]
    : ['', `    Console:  ${url}    (stop with Ctrl-C)`, ''];
  out.write(lines.join('\n') + '\n');
}

export interface ServeOptions {
  config?: Readonly<Config>;
  logger?: Logger;
  /** Where the one-time admin banner goes (stdout). */
  out?: NodeJS.WritableStream;
}

export async function serve(opts: ServeOptions = {}): Promise<void> {
  const config = opts.config ?? loadConfig();
  const out = opts.out ?? process.stdout;
  const format = logFormatFor(config.logFormat, process.stdout.isTTY === true);
  const logger = opts.logger ?? createLogger(config.logLevel, undefined, format);
  if (config.workers > 1 && cluster.isPrimary) return runWorkers(config, logger);
  logger.info({ version: PARLEY_VERSION, node: process.version }, 'Parley starting');

  let embedded: EmbeddedPostgresHandle | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      port: config.embeddedPostgresPort,
      log: (msg) => logger.info(msg),
    });
    databaseUrl = embedded.url;
    logger.warn(
      { dataDir: config.dataDir, port: embedded.port },
      'running on the EMBEDDED PostgreSQL (for trying Parley out); production must set DATABASE_URL to its own PostgreSQL 13+',
    );
  } else {
    logger.info({ database: describeDatabaseUrl(databaseUrl) }, 'using the configured PostgreSQL');
  }

  const database = openDatabase(databaseUrl, {
    max: config.databasePoolMax,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    logger,
  });
  const container = createContainer({ config, db: database.db, logger, databaseUrl });
  const app = await buildApp(container, { logger });
  const stopping = new AbortController();

  const shutdown = async (reason: string, exitCode: number) => {
    if (stopping.signal.aborted) return;
    stopping.abort();
    logger.info({ reason }, 'Parley stopping');
    database.stopping();
    await container.bridge?.stop();
    await container.scheduler.stop();
    await container.searchIndexer.stop();
    await container.routing.stop();
    await app.close();
    await database.close();
    if (embedded) await embedded.stop();
    logger.info('Parley stopped');
    process.exitCode = exitCode;
  };

  const closer = closeWithGrace(
    { delay: config.shutdownTimeoutSeconds * 1000, logger },
    async ({ signal, err }) => {
      if (err) logger.error({ err }, 'fatal error; shutting down');
      await shutdown(signal ?? 'error', err ? 1 : 0);
    },
  );

  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    // A taken port (EADDRINUSE) or a bad address: close what was opened and fail with exit 1.
    // Without uninstall, close-with-grace would run on 'beforeExit' and exit 0: a supervisor
    // would read a failed start as a clean stop.
    closer.uninstall();
    await shutdown('listen failed', 1);
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const consoleUrl = config.port === 0 ? `http://localhost:${port}` : config.publicUrl;
  logger.info({ port, url: consoleUrl }, 'listening');

  // Prepare the database; retry while it is unreachable, stop on anything an operator must fix.
  void (async () => {
    for (let attempt = 1; !stopping.signal.aborted; attempt++) {
      try {
        const { version } = await checkServerVersion(container.db);
        if (config.migrateOnStart) {
          const result = await migrate(databaseUrl, {
            onApplied: (file, durationMs) => logger.info({ file, durationMs }, 'migration applied'),
          });
          logger.info({ applied: result.applied.length, postgres: version }, 'database schema is current');
          const verdict = schemaVerdict(result.status);
          if (verdict.state === 'newer') logger.warn(verdict.detail);
        } else {
          const status = await migrationStatus(databaseUrl);
          assertTrustworthy(status);
          if (status.pending.length > 0) {
            logger.warn(
              { pending: status.pending.map((p) => p.file) },
              'waiting for migrations to be applied by the migrator (PARLEY_MIGRATE_ON_START=false)',
            );
            await sleep(5000, stopping.signal);
            continue;
          }
          const verdict = schemaVerdict(status);
          if (verdict.state === 'newer') logger.warn(verdict.detail);
        }
        const canary = await checkKeyCanary(container.db, container.keyRing);
        if (canary === 'written') logger.info('key-ring canary written (checked at every start)');
        const admin = await container.identity.ensureFirstAdmin(config.initialAdminPassword);
        if (admin && !admin.generated)
          logger.info(
            { username: admin.username },
            'created the first admin with PARLEY_INITIAL_ADMIN_PASSWORD',
          );
        await container.bridge?.start();
        container.health.markPrepared();
        container.scheduler.start();
        container.searchIndexer.start();
        if (config.routingEnabled) container.routing.startTicking();
        logger.info({ url: consoleUrl }, 'Parley is ready');
        if (admin?.generated) printWelcome(out, consoleUrl, admin);
        else if (format === 'pretty') printWelcome(out, consoleUrl, null);
        return;
      } catch (err) {
        if (err instanceof FatalStartupError) {
          logger.fatal(err.message);
          closer.uninstall(); // it would exit 0 on the way out
          await shutdown('fatal start-up error', 1);
          return;
        }
        const delay = Math.min(15_000, 500 * 2 ** Math.min(attempt, 5));
        logger.warn(
          { attempt, retryInMs: delay, reason: describeDbError(err) },
          'database not available yet; /readyz reports 503 until it is',
        );
        await sleep(delay, stopping.signal);
      }
    }
  })();
}
