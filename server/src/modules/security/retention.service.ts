// Conversation retention (PIPL: keep personal data no longer than needed). Resolved
// conversations idle for CONVERSATION_RETENTION_DAYS are erased with their messages and
// attachments (cascade). Off by default; when on, it first runs as a dry run that only reports,
// until CONVERSATION_RETENTION_ERASE=true. Every erasing batch is audited (ids and counts only).
import { sql } from 'kysely';
import type { AuditTrail } from '../../platform/audit.ts';
import type { Database } from '../../platform/db/database.ts';
import type { AttachmentStore } from '../conversations/attachment-store.ts';

export interface RetentionReport {
  enabled: boolean;
  erase: boolean;
  cutoff: string | null;
  eligible: number;
  oldestActivity: string | null;
  erased: number;
}

export function createRetentionService(deps: {
  db: Database;
  auditTrail: AuditTrail;
  settings: { conversationRetentionDays: number; conversationRetentionErase: boolean };
  /** Files of erased attachments on the volume are removed after each batch commits. */
  attachments: Pick<AttachmentStore, 'keysOfConversations' | 'remove'>;
}) {
  const { db, auditTrail, settings, attachments: store } = deps;
  const BATCH = 500;

  return {
    /** What the policy covers now; erases only when `erase` (and the policy is on). */
    async run(opts: { erase: boolean }, now = new Date()): Promise<RetentionReport> {
      const days = settings.conversationRetentionDays;
      if (days === 0) {
        return { enabled: false, erase: false, cutoff: null, eligible: 0, oldestActivity: null, erased: 0 };
      }
      const cutoff = new Date(now.getTime() - days * 86_400_000);
      const eligibleQuery = db
        .selectFrom('conversations')
        .where('status', '=', 'resolved')
        .where('last_activity_at', '<', cutoff);
      const summary = await eligibleQuery
        .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('last_activity_at').as('oldest')])
        .executeTakeFirstOrThrow();
      let erased = 0;
      if (opts.erase) {
        for (;;) {
          const { done, files } = await db.transaction().execute(async (trx) => {
            const ids = (
              await trx
                .selectFrom('conversations')
                .select('id')
                .where('status', '=', 'resolved')
                .where('last_activity_at', '<', cutoff)
                .orderBy('last_activity_at')
                .limit(BATCH)
                .forUpdate()
                .skipLocked()
                .execute()
            ).map((r) => r.id);
            if (ids.length === 0) return { done: 0, files: [] };
            const counts = await sql<{ messages: number; attachments: number }>`select
              (select count(*)::int from messages where conversation_id = any(${ids}::uuid[])) as messages,
              (select count(*)::int from attachments where conversation_id = any(${ids}::uuid[])) as attachments`.execute(
              trx,
            );
            const files = await store.keysOfConversations(trx, ids);
            await trx.deleteFrom('conversations').where('id', 'in', ids).execute();
            await auditTrail.record(
              trx,
              { id: null, name: 'system', ip: null, userAgent: null },
              {
                action: 'conversation.retention_erase',
                targetType: 'conversation',
                details: { conversationIds: ids, ...counts.rows[0], retentionDays: days },
              },
            );
            return { done: ids.length, files };
          });
          await store.remove(db, files);
          erased += done;
          if (done < BATCH) break;
        }
      }
      const oldest = summary.oldest as Date | string | null;
      return {
        enabled: true,
        erase: opts.erase,
        cutoff: cutoff.toISOString(),
        eligible: Number(summary.n),
        oldestActivity: oldest === null ? null : new Date(oldest).toISOString(),
        erased,
      };
    },
  };
}

export type RetentionService = ReturnType<typeof createRetentionService>;
