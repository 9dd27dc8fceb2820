// Opens the database a CLI command works on: DATABASE_URL, or the embedded one (shared with a
// running `parley serve` when there is one, else started for the command and stopped after).
import type { Config } from '../config/config.ts';
import { createLogger } from '../platform/logger.ts';
import { openDatabase, type DatabaseHandle } from '../platform/db/database.ts';
import { startEmbeddedPostgres } from '../platform/embedded-postgres.ts';

export async function withDatabaseUrl<T>(
  config: Readonly<Config>,
  fn: (url: string) => Promise<T>,
): Promise<T> {
  if (config.databaseUrl) return fn(config.databaseUrl);
  const embedded = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    port: config.embeddedPostgresPort,
    log: (m) => console.error(m),
  });
  try {
    return await fn(embedded.url);
  } finally {
    await embedded.stop();
  }
}

export async function withDatabase<T>(
  config: Readonly<Config>,
  fn: (db: DatabaseHandle, url: string) => Promise<T>,
): Promise<T> {
  return withDatabaseUrl(config, async (url) => {
    const handle = openDatabase(url, {
      max: 2,
      connectTimeoutMs: config.databaseConnectTimeoutMs,
      logger: createLogger('warn'),
      applicationName: 'parley-cli',
    });
    try {
      return await fn(handle, url);
    } finally {
      await handle.close();
    }
  });
}
