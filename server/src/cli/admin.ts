import type { Config } from '../config/config.ts';
import { createContainer } from '../container.ts';
import { migrationStatus } from '../platform/db/migrator.ts';
import { createLogger } from '../platform/logger.ts';
import { withDatabase } from './database.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export async function adminCreate(
  config: Readonly<Config>,
  opts: { username: string; displayName: string | undefined; passwordFromStdin: boolean },
): Promise<number> {
  const password = opts.passwordFromStdin ? await readStdin() : undefined;
  return withDatabase(config, async (handle, url) => {
    const status = await migrationStatus(url);
    if (status.pending.length > 0) {
      console.error('parley: the database schema is not current; run `parley migrate` first.');
      return 1;
    }
    const container = createContainer({ config, db: handle.db, logger: createLogger('warn') });
    const { user, password: generated } = await container.identity.createAdminFromCli({
      username: opts.username,
      displayName: opts.displayName,
      password,
    });
    console.log(`created admin "${user.username}" (${user.id})`);
    if (generated) console.log(`one-time password: ${generated}\n(to be changed at first sign-in)`);
    return 0;
  });
}
