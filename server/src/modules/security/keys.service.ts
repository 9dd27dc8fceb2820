// Key rotation for data at rest. Every encrypted column is listed in ENCRYPTED_COLUMNS; `parley
// keys rotate` re-encrypts, in batches, each value that is not under the active key. Work is
// selected by state (the key id inside each value), so an interrupted run resumes where it
// stopped, and rows written meanwhile are already under the active key.
import { sql } from 'kysely';
import type { AuditTrail } from '../../platform/audit.ts';
import { CANARY_CONTEXT } from '../../platform/crypto/key-canary.ts';
import type { KeyRing } from '../../platform/crypto/keyring.ts';
import { isCiphertext } from '../../platform/crypto/pii-protector.ts';
import { contactContext } from '../contacts/contacts.repository.ts';
import { messageOriginalContext } from '../conversations/transcript-masking.ts';
import type { Database } from '../../platform/db/database.ts';

export interface EncryptedColumn {
  table: string;
  idColumn: string;
  column: string;
  /** The additional authenticated data the value was encrypted with. */
  context: (id: string) => string;
  /** Values written in clear before keys were configured are sealed by `rotate` too. */
  sealsPlaintext?: boolean;
}

/** Every column holding key-ring ciphertext. Modules that encrypt data add theirs here. */
export const ENCRYPTED_COLUMNS: EncryptedColumn[] = [
  { table: 'users', idColumn: 'id', column: 'totp_secret_enc', context: (id) => `users.totp:${id}` },
  ...(['name', 'email', 'phone'] as const).map((field) => ({
    table: 'contacts',
    idColumn: 'id',
    column: field,
    context: (id: string) => contactContext(field, id),
    sealsPlaintext: true,
  })),
  {
    table: 'contacts',
    idColumn: 'id',
    column: 'sensitive_enc',
    context: (id) => contactContext('sensitive', id),
  },
  // The key-ring canary checked at start-up (platform/crypto/key-canary.ts).
  { table: 'key_canary', idColumn: 'id', column: 'encrypted', context: () => CANARY_CONTEXT },
  // Transcript masking: the text as typed of masked messages.
  {
    table: 'message_originals',
    idColumn: 'message_id',
    column: 'original_enc',
    context: messageOriginalContext,
  },
];

export interface RotationProgress {
  column: string;
  done: number;
  remaining: number;
}

export function createKeysService(deps: {
  db: Database;
  keyRing: KeyRing | null;
  auditTrail: AuditTrail;
  columns?: EncryptedColumn[];
}) {
  const { db, auditTrail } = deps;
  const columns = deps.columns ?? ENCRYPTED_COLUMNS;

  function ring(): KeyRing {
    if (!deps.keyRing) throw new Error('PARLEY_ENCRYPTION_KEYS is not set');
    return deps.keyRing;
  }

  const name = (c: EncryptedColumn) => `${c.table}.${c.column}`;
  const activePrefix = () => `pe1:${ring().activeKeyId}:%`;

  async function remaining(c: EncryptedColumn): Promise<number> {
    const r = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(c.table)}
      where ${sql.ref(c.column)} is not null and ${sql.ref(c.column)} not like ${activePrefix()}`.execute(db);
    return r.rows[0]?.n ?? 0;
  }

  return {
    /** Values per key id, per column (what `parley keys status` prints). */
    async status(): Promise<{ column: string; byKey: Record<string, number> }[]> {
      const out = [];
      for (const c of columns) {
        const r = await sql<{ key_id: string; n: number }>`
          select split_part(${sql.ref(c.column)}, ':', 2) as key_id, count(*)::int as n
          from ${sql.table(c.table)} where ${sql.ref(c.column)} is not null group by 1 order by 1`.execute(
          db,
        );
        out.push({ column: name(c), byKey: Object.fromEntries(r.rows.map((x) => [x.key_id, x.n])) });
      }
      return out;
    },

    /**
     * Re-encrypts every value not under the active key. `maxBatches` stops early (tests, or a
     * maintenance window); running again continues. Audited once per run.
     */
    async rotate(opts: {
      batchSize?: number;
      maxBatches?: number;
      onProgress?: (p: RotationProgress) => void;
    }): Promise<{ rotated: number; failed: number; complete: boolean }> {
      const keyRing = ring();
      const batchSize = opts.batchSize ?? 500;
      let rotated = 0;
      let failed = 0;
      let batches = 0;
      let complete = true;
      for (const c of columns) {
        let afterId = '';
        for (;;) {
          if (opts.maxBatches !== undefined && batches >= opts.maxBatches) {
            complete = false;
            break;
          }
          const rows = await sql<{ id: string; value: string }>`
            select ${sql.ref(c.idColumn)}::text as id, ${sql.ref(c.column)} as value
            from ${sql.table(c.table)}
            where ${sql.ref(c.column)} is not null and ${sql.ref(c.column)} not like ${activePrefix()}
              and ${sql.ref(c.idColumn)}::text > ${afterId}
            order by ${sql.ref(c.idColumn)}::text limit ${batchSize}`.execute(db);
          if (rows.rows.length === 0) break;
          batches++;
          await db.transaction().execute(async (trx) => {
            for (const row of rows.rows) {
              let next: string;
              try {
                const plain =
                  c.sealsPlaintext && !isCiphertext(row.value)
                    ? row.value
                    : keyRing.decrypt(row.value, c.context(row.id));
                next = keyRing.encrypt(plain, c.context(row.id));
              } catch {
                failed++; // a value no configured key opens: left as is, reported
                continue;
              }
              // Only if unchanged since read (a concurrent write wins; it used the active key).
              const res = await sql`update ${sql.table(c.table)} set ${sql.ref(c.column)} = ${next}
                where ${sql.ref(c.idColumn)}::text = ${row.id} and ${sql.ref(c.column)} = ${row.value}`.execute(
                trx,
              );
              rotated += Number(res.numAffectedRows ?? 0n);
            }
          });
          afterId = rows.rows[rows.rows.length - 1]!.id;
          opts.onProgress?.({ column: name(c), done: rotated, remaining: await remaining(c) });
        }
        if (!complete) break;
      }
      await db.transaction().execute((trx) =>
        auditTrail.record(
          trx,
          { id: null, name: 'cli', ip: null, userAgent: null },
          {
            action: 'keys.rotate',
            targetType: 'key_ring',
            targetId: keyRing.activeKeyId,
            outcome: failed > 0 ? 'failure' : 'success',
            details: { rotated, failed, complete },
          },
        ),
      );
      return { rotated, failed, complete: complete && failed === 0 };
    },
  };
}

export type KeysService = ReturnType<typeof createKeysService>;
