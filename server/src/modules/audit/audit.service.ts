// The audit trail as an auditor sees it: signed checkpoints, exports (CSV / JSONL with a signed
// manifest), verification of the database chain, and archival of old records before pruning.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import { createPublicKey } from 'node:crypto';
import type { AuditActor, AuditOutcome, AuditTrail } from '../../platform/audit.ts';
import { archiveMessage, checkpointMessage, type AuditSigner } from '../../platform/audit-signing.ts';
import type { AuditMacKeys } from '../../platform/audit-mac.ts';
import type { Logger } from 'pino';
import { appendAnchor, cronMaxIntervalMs, newestAnchor, sendSyslog, sendWitness } from './audit-anchors.ts';
import { checkpointSignatureOk, createDatabaseVerifier } from './audit-verify-db.ts';
import type { Database, Executor } from '../../platform/db/database.ts';
import { BadRequestError } from '../../platform/errors.ts';
import { authorize, type Actor } from '../identity/permissions.ts';
import {
  csvHeader,
  csvRecord,
  csvTrailer,
  jsonlHeader,
  jsonlRecord,
  manifestSigningBytes,
  parseExport,
  recordsDigest,
  seqRuns,
  type ExportFilter,
  type ExportManifest,
  type ExportedCheckpoint,
  type ExportedRecord,
} from './audit-file.ts';
import type { AuditRepository, AuditRow } from './audit.repository.ts';
import { verifyExport } from './audit-verify.ts';

export type ExportFormat = 'csv' | 'jsonl';
const PAGE = 2000;

export function toExported(row: AuditRow): ExportedRecord {
  return {
    seq: row.seq,
    occurredAt: row.occurred_at.toISOString(),
    actorId: row.actor_id,
    actorName: row.actor_name,
    actorIp: row.actor_ip,
    actorUserAgent: row.actor_user_agent,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    outcome: row.outcome as AuditOutcome,
    details: row.details as Record<string, unknown>,
    hashAlg: row.hash_alg as 'sha256',
    prevHash: row.prev_hash.toString('hex'),
    hash: row.hash.toString('hex'),
  };
}

function checkFilter(filter: ExportFilter): void {
  for (const field of ['from', 'to'] as const) {
    const v = filter[field];
    if (v !== undefined && Number.isNaN(Date.parse(v))) {
      throw new BadRequestError(`${field}: expected a date or date-time (ISO 8601)`, field);
    }
  }
}

const auditActorOf = (a: Actor): AuditActor => ({
  id: a.userId,
  name: a.username,
  ip: a.ip,
  userAgent: a.userAgent,
});

export function createAuditService(deps: {
  db: Database;
  repo: AuditRepository;
  auditTrail: AuditTrail;
  signer: AuditSigner | null;
  macKeys?: AuditMacKeys | null;
  logger?: Pick<Logger, 'warn' | 'error'>;
  settings: {
    auditRetentionDays: number;
    auditArchiveDir: string;
    auditCheckpointSchedule?: string;
    auditAnchorDir?: string | undefined;
    auditSyslogUrl?: string | undefined;
    auditSyslogCa?: string | undefined;
    auditWitnessUrl?: string | undefined;
  };
}) {
  const { db, repo, auditTrail, signer, settings } = deps;
  const macKeys = deps.macKeys ?? null;
  const intervalMs = cronMaxIntervalMs(settings.auditCheckpointSchedule ?? '*/10 * * * *');
  /** The newest failure to forward an anchor (syslog / witness), for the health view. */
  let lastForwardError: { at: Date; message: string } | null = null;

  async function* matching(
    executor: Executor,
    filter: ExportFilter & { upToSeq?: number },
  ): AsyncGenerator<ExportedRecord> {
    let after = 0;
    for (;;) {
      const rows = await repo.page(executor, filter, after, PAGE);
      for (const row of rows) yield toExported(row);
      if (rows.length < PAGE) return;
      after = rows[rows.length - 1]!.seq;
    }
  }

  /**
   * Writes an export: a consistent snapshot (REPEATABLE READ), two passes — hashes for the
   * manifest, then the records — so the manifest can lead the JSONL file.
   */
  async function writeExport(
    filter: ExportFilter & { upToSeq?: number },
    format: ExportFormat,
    exportedBy: string | null,
    write: (chunk: string) => Promise<void>,
  ): Promise<ExportManifest> {
    return db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => {
        const seqs: number[] = [];
        const hashes: { hash: string }[] = [];
        for await (const r of matching(trx, filter)) {
          seqs.push(r.seq);
          hashes.push({ hash: r.hash });
        }
        const head = await repo.head(trx);
        const anchor = await repo.lastAnchor(trx);
        const firstSeq = seqs[0] ?? null;
        const lastSeq = seqs[seqs.length - 1] ?? null;
        const checkpoints: ExportedCheckpoint[] =
          firstSeq === null
            ? []
            : (await repo.checkpointsBetween(trx, firstSeq, lastSeq!)).map((c) => ({
                seq: c.seq,
                hash: c.hash.toString('hex'),
                signedAt: c.signed_at.toISOString(),
                keyFingerprint: c.key_fingerprint,
                signature: c.signature.toString('base64'),
              }));
        // The newest checkpoint after the range (issue 21): a tail cut is caught from the file alone.
        const newest = lastSeq === null ? null : await repo.newestCheckpointAfter(trx, lastSeq);
        const manifest: ExportManifest = {
          format: 'parley-audit-export',
          version: newest ? 2 : 1,
          exportedAt: new Date().toISOString(),
          exportedBy,
          filter: Object.fromEntries(
            Object.entries(filter).filter(([k, v]) => v !== undefined && k !== 'upToSeq'),
          ),
          contiguous: !filter.actor && !filter.action && !filter.targetType && !filter.targetId,
          range: { firstSeq, lastSeq, count: seqs.length },
          seqs: seqRuns(seqs),
          recordsDigest: recordsDigest(hashes),
          head: head ? { seq: head.seq, hash: head.hash.toString('hex') } : null,
          anchor: anchor ? { seq: anchor.last_seq, hash: anchor.last_hash.toString('hex') } : null,
          checkpoints,
          ...(newest
            ? {
                newestCheckpoint: {
                  seq: newest.seq,
                  hash: newest.hash.toString('hex'),
                  signedAt: newest.signed_at.toISOString(),
                  keyFingerprint: newest.key_fingerprint,
                  signature: newest.signature.toString('base64'),
                },
              }
            : {}),
          publicKey: signer ? { fingerprint: signer.fingerprint, pem: signer.publicKeyPem } : null,
          signature: null,
        };
        if (signer) manifest.signature = signer.sign(manifestSigningBytes(manifest)).toString('base64');
        await write(format === 'csv' ? csvHeader() : jsonlHeader(manifest));
        let buffer = '';
        for await (const r of matching(trx, filter)) {
          buffer += format === 'csv' ? csvRecord(r) : jsonlRecord(r);
          if (buffer.length > 64 * 1024) {
            await write(buffer);
            buffer = '';
          }
        }
        if (format === 'csv') buffer += csvTrailer(manifest);
        await write(buffer);
        return manifest;
      });
  }

  /** Checks the chain in the database (`executor` lets a caller verify inside its transaction). */
  const verifyDatabase = createDatabaseVerifier({
    db,
    repo,
    signer,
    macKeys,
    anchorDir: settings.auditAnchorDir,
    toExported,
  });

  /** Appends a signed checkpoint to the anchor log and forwards it; forwarding failures are logged. */
  async function anchor(cp: ExportedCheckpoint): Promise<{ anchored: boolean; forwarded: string[] }> {
    if (!settings.auditAnchorDir) return { anchored: false, forwarded: [] };
    const line = await appendAnchor(settings.auditAnchorDir, cp);
    const forwarded: string[] = [];
    const targets: [string, () => Promise<void>][] = [];
    if (settings.auditSyslogUrl) {
      const url = settings.auditSyslogUrl;
      targets.push(['syslog', () => sendSyslog(url, line, { ca: settings.auditSyslogCa })]);
    }
    if (settings.auditWitnessUrl) {
      const url = settings.auditWitnessUrl;
      targets.push(['witness', () => sendWitness(url, line)]);
    }
    for (const [name, send] of targets) {
      try {
        await send();
        forwarded.push(name);
      } catch (err) {
        lastForwardError = { at: new Date(), message: `${name}: ${(err as Error).message}` };
        deps.logger?.warn({ err, seq: cp.seq }, `audit anchor: forwarding to ${name} failed`);
      }
    }
    return { anchored: true, forwarded };
  }

  return {
    signingEnabled: signer !== null,

    /** The freshness rule for the live system: now, and the longest gap between checkpoint runs. */
    freshness: () => ({ now: new Date(), intervalMs }),

    /** Signs the chain head into audit_checkpoints (the scheduled job calls this). */
    async checkpoint(): Promise<
      | { signed: true; seq: number; anchored: boolean; forwarded: string[] }
      | { signed: false; reason: string }
    > {
      if (!signer) return { signed: false, reason: 'PARLEY_AUDIT_SIGNING_KEY is not set' };
      const result = await db.transaction().execute(async (trx) => {
        const head = await repo.head(trx);
        if (!head) return { signed: false as const, reason: 'the audit trail is empty' };
        const last = await repo.lastCheckpoint(trx);
        if (last && last.seq === head.seq && last.hash.equals(head.hash)) {
          return { signed: false as const, reason: `seq ${head.seq} is already signed` };
        }
        if (last && head.seq < last.seq) {
          deps.logger?.error(
            { head: head.seq, checkpoint: last.seq },
            'audit checkpoint refused: the chain is shorter than its last checkpoint',
          );
          return {
            signed: false as const,
            reason: `the chain ends at seq ${head.seq}, before the last checkpoint (seq ${last.seq}): records were deleted; not signing (run parley audit verify --db)`,
          };
        }
        // Never sign what the application did not write (issue 21): with MAC keys, every record
        // since the last checkpoint must carry a valid MAC and link to the one before it.
        if (macKeys) {
          // From the last signed record (its MAC tells whether MACs had started), a record without
          // a MAC is accepted only before the first record with one (written before the key was set).
          let prev: Buffer | null = null;
          let macSeen = false;
          for (const r of await repo.macsAfter(trx, last ? last.seq - 1 : 0)) {
            const isSigned = last !== undefined && r.seq === last.seq;
            const macOk = r.mac === null ? !macSeen : macKeys.check(r.seq, r.hash, r.mac) === 'ok';
            if (r.mac !== null) macSeen = true;
            if (isSigned) {
              prev = r.hash;
              continue;
            }
            if (!macOk || (prev && !r.prev_hash.equals(prev))) {
              deps.logger?.error({ seq: r.seq }, 'audit checkpoint refused: a record fails its MAC or link');
              return {
                signed: false as const,
                reason: `seq ${r.seq} fails its MAC or link: not signing (run parley audit verify --db)`,
              };
            }
            prev = r.hash;
          }
        }
        const signedAt = new Date();
        const signature = signer.sign(
          checkpointMessage({ seq: head.seq, hash: head.hash, signedAt: signedAt.toISOString() }),
        );
        await repo.insertCheckpoint(trx, {
          seq: head.seq,
          hash: head.hash,
          signedAt,
          keyFingerprint: signer.fingerprint,
          signature,
        });
        return {
          signed: true as const,
          cp: {
            seq: head.seq,
            hash: head.hash.toString('hex'),
            signedAt: signedAt.toISOString(),
            keyFingerprint: signer.fingerprint,
            signature: signature.toString('base64'),
          },
        };
      });
      if (!result.signed) return result;
      // After the commit: an anchor never names a checkpoint the database does not have. If the
      // append fails, the job fails (and the anchor age shows it); the next run anchors again.
      const done = await anchor(result.cp);
      return { signed: true, seq: result.cp.seq, ...done };
    },

    /**
     * The age of the newest signed checkpoint and of the newest external anchor, with an alert
     * state (doctor, /metrics, the console's audit page).
     */
    async health(now = new Date()): Promise<AuditHealth> {
      const reasons: string[] = [];
      /** Set up incompletely (a warning), as against overdue or failing (an alert). */
      const notice: string[] = [];
      const head = await repo.head(db);
      const key = signer ? createPublicKey(signer.publicKeyPem) : null;
      let cp: { seq: number; hash: string; signedAt: string } | null = null;
      for (const c of await repo.newestValidCheckpointCandidates(db)) {
        const e = {
          seq: c.seq,
          hash: c.hash.toString('hex'),
          signedAt: c.signed_at.toISOString(),
          keyFingerprint: c.key_fingerprint,
          signature: c.signature.toString('base64'),
        };
        if (!key || checkpointSignatureOk(key, e)) {
          cp = e;
          break;
        }
      }
      const age = (iso: string) => Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
      if (!signer) notice.push('PARLEY_AUDIT_SIGNING_KEY is not set: no checkpoints are signed');
      if (!macKeys) notice.push('PARLEY_AUDIT_MAC_KEYS is not set: records carry no MAC');
      if (head && signer) {
        const firstOpen = cp ? (cp.seq < head.seq ? cp.seq + 1 : null) : 1;
        const row = firstOpen === null ? null : await repo.recordAt(db, firstOpen);
        if (row && now.getTime() - row.occurred_at.getTime() > 2 * intervalMs) {
          reasons.push(
            `records from seq ${row.seq} are not covered by a signed checkpoint after two checkpoint intervals`,
          );
        }
      }
      let anchorInfo: AuditHealth['anchor'] = null;
      if (settings.auditAnchorDir) {
        const a = await newestAnchor(settings.auditAnchorDir).catch((err: Error) => {
          reasons.push(`the anchor log cannot be read: ${err.message}`);
          return null;
        });
        if (a) anchorInfo = { seq: a.seq, writtenAt: a.writtenAt, ageSeconds: age(a.writtenAt) };
        if (cp && (!a || a.seq < cp.seq) && now.getTime() - Date.parse(cp.signedAt) > intervalMs) {
          reasons.push(`the newest checkpoint (seq ${cp.seq}) is not in the external anchor log`);
        }
      } else {
        notice.push('AUDIT_ANCHOR_DIR is not set: checkpoints are not anchored outside the database');
      }
      if (lastForwardError && now.getTime() - lastForwardError.at.getTime() < 2 * intervalMs) {
        reasons.push(`forwarding an anchor failed: ${lastForwardError.message}`);
      }
      return {
        state: reasons.length > 0 ? 'alert' : notice.length > 0 ? 'warn' : 'ok',
        reasons: [...reasons, ...notice],
        intervalSeconds: Math.round(intervalMs / 1000),
        headSeq: head?.seq ?? null,
        checkpoint: cp ? { seq: cp.seq, signedAt: cp.signedAt, ageSeconds: age(cp.signedAt) } : null,
        anchor: anchorInfo,
        anchorConfigured: Boolean(settings.auditAnchorDir),
        macConfigured: macKeys !== null,
      };
    },

    /** Records for the console's audit page (newest first is the console's job). */
    async listRecords(
      actor: Actor,
      filter: ExportFilter,
      afterSeq: number,
      limit: number,
    ): Promise<ExportedRecord[]> {
      authorize(actor, 'audit.read');
      checkFilter(filter);
      return (await repo.page(db, filter, afterSeq, limit)).map(toExported);
    },

    /**
     * An export for an auditor. The export itself is audited first, in its own transaction:
     * if that record cannot be written, nothing is exported.
     */
    async exportForActor(
      actor: Actor | { cli: true },
      filter: ExportFilter,
      format: ExportFormat,
      write: (chunk: string) => Promise<void>,
    ): Promise<ExportManifest> {
      const who: AuditActor =
        'cli' in actor ? { id: null, name: 'cli', ip: null, userAgent: null } : auditActorOf(actor);
      if (!('cli' in actor)) authorize(actor, 'audit.export');
      checkFilter(filter);
      await db.transaction().execute((trx) =>
        auditTrail.record(trx, who, {
          action: 'audit.export',
          targetType: 'audit_log',
          details: { format, filter: { ...filter } },
        }),
      );
      return writeExport(filter, format, who.name, write);
    },

    verifyDatabase,

    /**
     * Archive-then-prune: records older than the retention period go to a JSONL export under
     * the archive directory, the file is read back and verified, and only then does
     * audit_prune() (database function) record the anchor and delete them, audited.
     */
    async archive(
      now = new Date(),
    ): Promise<
      | { archived: false; reason: string }
      | { archived: true; file: string; firstSeq: number; lastSeq: number; count: number }
    > {
      const cutoff = new Date(now.getTime() - settings.auditRetentionDays * 86_400_000);
      const last = await repo.lastSeqBefore(db, cutoff);
      if (!last) return { archived: false, reason: 'no records older than the retention period' };
      await mkdir(settings.auditArchiveDir, { recursive: true, mode: 0o700 });
      const tmp = path.join(settings.auditArchiveDir, `.audit-archive-${process.pid}-${Date.now()}.tmp`);
      await writeFile(tmp, '', { mode: 0o600 });
      try {
        const manifest = await writeExport({ upToSeq: last.seq }, 'jsonl', 'archive', (chunk) =>
          appendFile(tmp, chunk),
        );
        const firstSeq = manifest.range.firstSeq!;
        const content = await readFile(tmp);
        const report = verifyExport(
          parseExport(content.toString('utf8'), tmp),
          signer ? createPublicKey(signer.publicKeyPem) : null,
        );
        if (!report.ok) {
          throw new Error(
            `the archive did not verify, nothing pruned: ${report.problems[0]?.message ?? 'unknown problem'}`,
          );
        }
        const name = `audit-${String(firstSeq).padStart(12, '0')}-${String(last.seq).padStart(12, '0')}.jsonl`;
        const file = path.join(settings.auditArchiveDir, name);
        await rename(tmp, file);
        const sha = createHash('sha256').update(content).digest('hex');
        const signature = signer
          ? signer.sign(
              archiveMessage({
                firstSeq,
                lastSeq: last.seq,
                lastHash: last.hash,
                fileName: name,
                fileSha256: sha,
              }),
            )
          : null;
        const count = await db.transaction().execute(async (trx) => {
          const res = await repo.prune(trx, {
            keyFingerprint: signer ? signer.fingerprint : null,
            signature,
            lastSeq: last.seq,
            lastHash: last.hash,
            retentionDays: settings.auditRetentionDays,
            fileName: name,
            fileSha256: sha,
          });
          const n = Number(res.rows[0]?.n ?? 0);
          await auditTrail.record(
            trx,
            { id: null, name: 'system', ip: null, userAgent: null },
            {
              action: 'audit.archive',
              targetType: 'audit_log',
              targetId: `${firstSeq}-${last.seq}`,
              details: { file: name, sha256: sha, records: n, cutoff: cutoff.toISOString() },
            },
          );
          return n;
        });
        return { archived: true, file, firstSeq, lastSeq: last.seq, count };
      } finally {
        await rm(tmp, { force: true });
      }
    },

    listArchives() {
      return repo.listArchives(db);
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;

export interface AuditHealth {
  /** 'alert': records unsigned past two checkpoint intervals, an anchor missing or failing; 'warn': not fully set up. */
  state: 'ok' | 'warn' | 'alert';
  reasons: string[];
  intervalSeconds: number;
  headSeq: number | null;
  checkpoint: { seq: number; signedAt: string; ageSeconds: number } | null;
  anchor: { seq: number; writtenAt: string; ageSeconds: number } | null;
  anchorConfigured: boolean;
  macConfigured: boolean;
}
