// `parley keys generate|status|rotate`: the key ring for data at rest.
import type { Config } from '../config/config.ts';
import { createContainer } from '../container.ts';
import { generateKey } from '../platform/crypto/keyring.ts';
import { createLogger } from '../platform/logger.ts';
import { withDatabase } from './database.ts';

export function keysGenerate(opts: { id: string | undefined }): number {
  const id = opts.id ?? `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}`;
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new Error('--id: letters, digits, _ and - (up to 32)');
  console.log(`# A new encryption key. Put it FIRST in PARLEY_ENCRYPTION_KEYS (keep the old ones after it`);
  console.log(`# until \`parley keys rotate\` has finished), then restart Parley.`);
  console.log(`${id}:${generateKey()}`);
  console.log(
    `# A lookup key, only when setting up for the first time (PARLEY_LOOKUP_KEY; never rotate it):`,
  );
  console.log(generateKey());
  return 0;
}

export async function keysStatus(config: Readonly<Config>): Promise<number> {
  return withDatabase(config, async (handle) => {
    const c = createContainer({ config, db: handle.db, logger: createLogger('warn') });
    if (!c.keyRing) {
      console.error('parley: PARLEY_ENCRYPTION_KEYS is not set');
      return 1;
    }
    console.log(`active key: ${c.keyRing.activeKeyId}; configured: ${c.keyRing.keyIds.join(', ')}`);
    for (const s of await c.keys.status()) {
      const parts = Object.entries(s.byKey).map(([k, n]) => `${k}=${n}`);
      console.log(`${s.column.padEnd(28)} ${parts.length ? parts.join(' ') : '(empty)'}`);
    }
    return 0;
  });
}

export async function keysRotate(config: Readonly<Config>, opts: { batchSize: number }): Promise<number> {
  return withDatabase(config, async (handle) => {
    const c = createContainer({ config, db: handle.db, logger: createLogger('warn') });
    if (!c.keyRing) {
      console.error('parley: PARLEY_ENCRYPTION_KEYS is not set');
      return 1;
    }
    console.log(`re-encrypting under key "${c.keyRing.activeKeyId}" in batches of ${opts.batchSize}`);
    const result = await c.keys.rotate({
      batchSize: opts.batchSize,
      onProgress: (p) => console.log(`${p.column}: ${p.done} re-encrypted, ${p.remaining} to go`),
    });
    console.log(
      `done: ${result.rotated} re-encrypted${result.failed ? `, ${result.failed} could not be decrypted with any configured key` : ''}`,
    );
    if (result.complete)
      console.log(
        'All values use the active key; older keys may now be removed from PARLEY_ENCRYPTION_KEYS.',
      );
    return result.failed > 0 ? 1 : 0;
  });
}
