// The key-ring canary (migrations/0021_key_canary.sql): proof, at start-up, that the configured
// PARLEY_ENCRYPTION_KEYS and PARLEY_LOOKUP_KEY are the ones the database's data was written with.
// Without it a replaced Secret (another install tool, a restore with other keys) shows only as a
// 500 "the value does not decrypt" on every encrypted field while /readyz stays green.
import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { FatalStartupError } from '../errors.ts';
import type { KeyRing } from './keyring.ts';

const CANARY_TEXT = 'parley key canary';
export const CANARY_CONTEXT = 'key_canary';

export type CanaryResult = 'written' | 'absent' | 'verified' | 'no-keys';

/**
 * Writes the canary on the first start with a key ring (unless `write: false`: `parley doctor`);
 * afterwards checks it, and throws a FatalStartupError saying what is wrong when the configured
 * keys do not open it.
 */
export async function checkKeyCanary(
  db: Database,
  keyRing: KeyRing | null,
  opts: { write?: boolean } = {},
): Promise<CanaryResult> {
  const read = async () =>
    (
      await sql<{ encrypted: string; lookup_hash: string; created_at: Date }>`
        select encrypted, lookup_hash, created_at from key_canary`.execute(db)
    ).rows[0];
  let row = await read();
  if (!keyRing) {
    if (row)
      throw new FatalStartupError(
        `PARLEY_ENCRYPTION_KEYS and PARLEY_LOOKUP_KEY are not set, but this database holds data encrypted with a key ring ` +
          `(key canary written ${row.created_at.toISOString()}). Set them to the keys this database was written with ` +
          '(the Secret or parley.env of the installation; docs/OPERATIONS.md, "Secrets").',
      );
    return 'no-keys';
  }
  const lookupHash = keyRing.lookupHash('canary', CANARY_TEXT);
  let written = false;
  if (!row) {
    if (opts.write === false) return 'absent';
    const inserted = await sql`insert into key_canary (encrypted, lookup_hash)
      values (${keyRing.encrypt(CANARY_TEXT, CANARY_CONTEXT)}, ${lookupHash})
      on conflict (id) do nothing`.execute(db);
    written = Number(inserted.numAffectedRows ?? 0n) === 1;
    // Another replica starting at the same moment may have written it first: check theirs.
    row = await read();
    if (!row) throw new Error('the key canary was neither written nor found');
  }
  const keyId = keyRing.keyIdOf(row.encrypted) ?? '?';
  let opened = '';
  try {
    opened = keyRing.decrypt(row.encrypted, CANARY_CONTEXT);
  } catch {
    /* reported below */
  }
  if (opened !== CANARY_TEXT) {
    throw new FatalStartupError(
      `PARLEY_ENCRYPTION_KEYS cannot decrypt this database's key canary (encrypted with key "${keyId}" on ` +
        `${row.created_at.toISOString()}; configured keys: ${keyRing.keyIds.join(', ')}): these are not the keys the ` +
        'data was encrypted with, and every encrypted value would fail. Parley does not start. Restore the original ' +
        'PARLEY_ENCRYPTION_KEYS (Kubernetes: the Secret <release>-parley-secrets; single server: /etc/parley/parley.env; ' +
        'docs/OPERATIONS.md, "Secrets"). When rotating, keep the old key after the new one until `parley keys rotate` has finished.',
    );
  }
  if (lookupHash !== row.lookup_hash) {
    throw new FatalStartupError(
      'PARLEY_LOOKUP_KEY is not the lookup key this database was written with (its key canary does not match): ' +
        'searches for contacts by email or phone would find nothing. Parley does not start. Restore the original ' +
        'PARLEY_LOOKUP_KEY (it is never rotated; docs/OPERATIONS.md, "Secrets").',
    );
  }
  return written ? 'written' : 'verified';
}
