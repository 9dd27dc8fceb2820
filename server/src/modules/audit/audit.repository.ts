// Every SQL statement about the audit chain, its checkpoints and its archives.
import { sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import { CSV_COLUMNS, type ExportFilter } from './audit-file.ts';

// One stored record is one exported row: the same columns, in the export's order.
const recordColumns = CSV_COLUMNS;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createAuditRepository() {
  return {
    head(db: Executor) {
      return db
        .selectFrom('audit_log')
        .select(['seq', 'hash'])
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
    },

    /** One page of records matching the filter, seq ascending, after `afterSeq`. */
    page(db: Executor, filter: ExportFilter & { upToSeq?: number }, afterSeq: number, limit: number) {
      let q = db.selectFrom('audit_log').select(recordColumns).where('seq', '>', afterSeq);
      if (filter.upToSeq !== undefined) q = q.where('seq', '<=', filter.upToSeq);
      if (filter.from) q = q.where('occurred_at', '>=', new Date(filter.from));
      if (filter.to) q = q.where('occurred_at', '<', new Date(filter.to));
      if (filter.actor) {
        const actor = filter.actor;
        q = UUID.test(actor) ? q.where('actor_id', '=', actor) : q.where('actor_name', '=', actor);
      }
      if (filter.action) {
        // "auth." (ending with a dot) selects a family of actions.
        q = filter.action.endsWith('.')
          ? q.where('action', 'like', `${filter.action.replace(/[\\%_]/g, '\\$&')}%`)
          : q.where('action', '=', filter.action);
      }
      if (filter.targetType) q = q.where('target_type', '=', filter.targetType);
      if (filter.targetId) q = q.where('target_id', '=', filter.targetId);
      return q.orderBy('seq').limit(limit).execute();
    },

    checkpointsBetween(db: Executor, firstSeq: number, lastSeq: number) {
      return db
        .selectFrom('audit_checkpoints')
        .select(['seq', 'hash', 'signed_at', 'key_fingerprint', 'signature'])
        .where('seq', '>=', firstSeq)
        .where('seq', '<=', lastSeq)
        .orderBy('seq')
        .execute();
    },

    /** The newest checkpoint beyond `seq` (exports embed it: a tail cut shows in the file). */
    newestCheckpointAfter(db: Executor, seq: number) {
      return db
        .selectFrom('audit_checkpoints')
        .select(['seq', 'hash', 'signed_at', 'key_fingerprint', 'signature'])
        .where('seq', '>', seq)
        .orderBy('seq', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
    },

    lastCheckpoint(db: Executor) {
      return db
        .selectFrom('audit_checkpoints')
        .select(['seq', 'hash', 'signed_at'])
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
    },

    insertCheckpoint(
      db: Executor,
      cp: { seq: number; hash: Buffer; signedAt: Date; keyFingerprint: string; signature: Buffer },
    ) {
      return db
        .insertInto('audit_checkpoints')
        .values({
          seq: cp.seq,
          hash: cp.hash,
          signed_at: cp.signedAt,
          key_fingerprint: cp.keyFingerprint,
          signature: cp.signature,
        })
        .execute();
    },

    /** The newest archive anchor: the chain in the database continues from it. */
    lastAnchor(db: Executor) {
      return db
        .selectFrom('audit_archives')
        .select(['last_seq', 'last_hash'])
        .orderBy('last_seq', 'desc')
        .limit(1)
        .executeTakeFirst();
    },

    /** Every anchor row with its signature: verification trusts only the validly signed ones. */
    allArchives(db: Executor) {
      return db
        .selectFrom('audit_archives')
        .select([
          'id',
          'first_seq',
          'last_seq',
          'last_hash',
          'file_name',
          'file_sha256',
          'key_fingerprint',
          'signature',
        ])
        .orderBy('last_seq')
        .execute();
    },

    /** Records with their MAC (verification of the database only; exports never carry MACs). */
    pageWithMac(db: Executor, afterSeq: number, limit: number) {
      return db
        .selectFrom('audit_log')
        .select([...recordColumns, 'mac'])
        .where('seq', '>', afterSeq)
        .orderBy('seq')
        .limit(limit)
        .execute();
    },

    /** Records after a seq (the checkpoint job checks their MACs before signing the head). */
    macsAfter(db: Executor, afterSeq: number) {
      return db
        .selectFrom('audit_log')
        .select(['seq', 'hash', 'prev_hash', 'mac'])
        .where('seq', '>', afterSeq)
        .orderBy('seq')
        .execute();
    },

    newestValidCheckpointCandidates(db: Executor) {
      return db
        .selectFrom('audit_checkpoints')
        .select(['seq', 'hash', 'signed_at', 'key_fingerprint', 'signature'])
        .orderBy('seq', 'desc')
        .orderBy('id', 'desc')
        .limit(20)
        .execute();
    },

    recordAt(db: Executor, seq: number) {
      return db
        .selectFrom('audit_log')
        .select(['seq', 'hash', 'occurred_at'])
        .where('seq', '=', seq)
        .executeTakeFirst();
    },

    listArchives(db: Executor) {
      return db
        .selectFrom('audit_archives')
        .select(['first_seq', 'last_seq', 'record_count', 'file_name', 'file_sha256', 'archived_at'])
        .orderBy('last_seq')
        .execute();
    },

    /** The newest seq older than the cut-off (archival stops there). */
    lastSeqBefore(db: Executor, cutoff: Date) {
      return db
        .selectFrom('audit_log')
        .select(['seq', 'hash'])
        .where('occurred_at', '<', cutoff)
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
    },

    prune(
      db: Executor,
      args: {
        lastSeq: number;
        lastHash: Buffer;
        retentionDays: number;
        fileName: string;
        fileSha256: string;
        keyFingerprint: string | null;
        signature: Buffer | null;
      },
    ) {
      return sql<{
        n: number;
      }>`select audit_prune(${args.lastSeq}::bigint, ${args.lastHash}, ${args.retentionDays}::int, ${args.fileName}, ${args.fileSha256}, ${args.keyFingerprint}::text, ${args.signature}::bytea) as n`.execute(
        db,
      );
    },
  };
}

export type AuditRepository = ReturnType<typeof createAuditRepository>;
export type AuditRow = Awaited<ReturnType<AuditRepository['page']>>[number];
