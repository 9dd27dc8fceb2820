// The audit writer. Services call `auditTrail.record(trx, …)` inside the transaction that does
// the privileged action, so the action and its record commit or fail together.
// Records are chained: hash = SHA-256(prev_hash || canonical JSON of the record fields).
// A transaction-scoped advisory lock serialises writers so the chain and seq stay gap-free.
import { createHash } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import { canonicalJson } from './canonical-json.ts';
import type { DB } from './db/database.ts';
import type { AuditMacKeys } from './audit-mac.ts';

const AUDIT_CHAIN_LOCK_KEY = 727_002;
export const GENESIS_HASH = Buffer.alloc(32, 0);

export type AuditOutcome = 'success' | 'failure' | 'denied';

/** Who did it, from where. Anonymous actions (failed logins) have no id. */
export interface AuditActor {
  id: string | null;
  name: string | null;
  ip: string | null;
  userAgent: string | null;
}

export interface AuditEntry {
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  outcome?: AuditOutcome;
  /** Never secrets: passwords, tokens and keys must not be put here. */
  details?: Record<string, unknown>;
}

/** The fields the hash covers, in their exported form. */
export interface AuditRecordBody {
  seq: number;
  occurredAt: string;
  actorId: string | null;
  actorName: string | null;
  actorIp: string | null;
  actorUserAgent: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  outcome: AuditOutcome;
  details: Record<string, unknown>;
  hashAlg: 'sha256';
}

export function hashAuditRecord(prevHash: Buffer, body: AuditRecordBody): Buffer {
  return createHash('sha256').update(prevHash).update(canonicalJson(body), 'utf8').digest();
}

export interface AuditTrail {
  record(trx: Transaction<DB>, actor: AuditActor, entry: AuditEntry): Promise<{ seq: number }>;
}

/** `macKeys`: the application-held MAC key (PARLEY_AUDIT_MAC_KEYS); null writes records without a MAC. */
export function createAuditTrail(macKeys: AuditMacKeys | null = null): AuditTrail {
  return {
    async record(trx, actor, entry) {
      await sql`select pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK_KEY})`.execute(trx);
      const head = await trx
        .selectFrom('audit_log')
        .select(['seq', 'hash'])
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      const prevHash = head ? head.hash : GENESIS_HASH;
      const body: AuditRecordBody = {
        seq: (head?.seq ?? 0) + 1,
        occurredAt: new Date().toISOString(),
        actorId: actor.id,
        actorName: actor.name,
        actorIp: actor.ip,
        actorUserAgent: actor.userAgent,
        action: entry.action,
        targetType: entry.targetType ?? null,
        targetId: entry.targetId ?? null,
        outcome: entry.outcome ?? 'success',
        details: entry.details ?? {},
        hashAlg: 'sha256',
      };
      const hash = hashAuditRecord(prevHash, body);
      await trx
        .insertInto('audit_log')
        .values({
          seq: body.seq,
          occurred_at: body.occurredAt,
          actor_id: body.actorId,
          actor_name: body.actorName,
          actor_ip: body.actorIp,
          actor_user_agent: body.actorUserAgent,
          action: body.action,
          target_type: body.targetType,
          target_id: body.targetId,
          outcome: body.outcome,
          details: JSON.stringify(body.details),
          hash_alg: body.hashAlg,
          prev_hash: prevHash,
          hash,
          mac: macKeys ? macKeys.mac(body.seq, hash) : null,
        })
        .execute();
      return { seq: body.seq };
    },
  };
}
