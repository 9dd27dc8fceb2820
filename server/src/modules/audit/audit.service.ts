// The audit trail as an auditor sees it: signed checkpoints, exports (CSV / JSONL with a signed
// manifest), verification of the database chain, and archival of old records before pruning.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile, appendFile } from 'node:fs/promises';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import type { AuditActor, AuditOutcome, AuditTrail } from '../../platform/audit.ts';
import { checkpointMessage, type AuditSigner } from '../../platform/audit-signing.ts';
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
import { verifyChain, verifyExport, type VerifyReport } from './audit-verify.ts';

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
  settings: { auditRetentionDays: number; auditArchiveDir: string };
}) {
  const { db, repo, auditTrail, signer, settings } = deps;

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
        const manifest: ExportManifest = {
          format: 'parley-audit-export',
          version: 1,
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
  async function verifyDatabase(
    publicKey: KeyObject | null,
    executor: Executor = db,
    chunkSize = 20_000,
  ): Promise<VerifyReport> {
    const anchorRow = await repo.lastAnchor(executor);
    const anchor = anchorRow ? { seq: anchorRow.last_seq, hash: anchorRow.last_hash.toString('hex') } : null;
    const first = anchor ? anchor.seq + 1 : 1;
    const checkpoints = (await repo.checkpointsBetween(executor, first, Number.MAX_SAFE_INTEGER)).map(
      (c) => ({
        seq: c.seq,
        hash: c.hash.toString('hex'),
        signedAt: c.signed_at.toISOString(),
        keyFingerprint: c.key_fingerprint,
        signature: c.signature.toString('base64'),
      }),
    );
    const key = publicKey ?? (signer ? createPublicKey(signer.publicKeyPem) : null);

    // In chunks, so memory stays flat on a long trail; each chunk repeats the last two records
    // of the one before, so links, gaps and swaps across the boundary are still seen.
    const problems = new Map<string, VerifyReport['problems'][number]>();
    let carry: ExportedRecord[] = [];
    let chunk: ExportedRecord[] = [];
    let isFirst = true;
    const acc = {
      records: 0,
      firstSeq: null as number | null,
      lastSeq: null as number | null,
      checkpointsVerified: 0,
      signedUpTo: null as number | null,
    };
    const runChunk = (isLast: boolean) => {
      if (chunk.length === 0 && !isLast) return;
      const from = chunk[0]?.seq ?? Number.MAX_SAFE_INTEGER;
      const to = chunk[chunk.length - 1]?.seq ?? 0;
      const report = verifyChain({
        records: [...carry, ...chunk],
        contiguous: true,
        anchor: isFirst ? anchor : null,
        expectedFirstSeq: isFirst ? first : null,
        checkpoints: checkpoints.filter((c) => (c.seq >= from && c.seq <= to) || (isLast && c.seq > to)),
        publicKey: key,
        isTail: isLast,
      });
      for (const p of report.problems) problems.set(`${p.kind}:${p.seq}:${p.message}`, p);
      acc.records += chunk.length;
      acc.firstSeq ??= chunk[0]?.seq ?? null;
      acc.lastSeq = chunk[chunk.length - 1]?.seq ?? acc.lastSeq;
      acc.checkpointsVerified += report.checkpointsVerified;
      if (report.signedUpTo !== null) acc.signedUpTo = Math.max(acc.signedUpTo ?? 0, report.signedUpTo);
      carry = [...carry, ...chunk].slice(-2);
      chunk = [];
      isFirst = false;
    };
    for await (const r of matching(executor, {})) {
      chunk.push(r);
      if (chunk.length >= chunkSize) runChunk(false);
    }
    runChunk(true);

    const sorted = [...problems.values()].sort(
      (a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER),
    );
    const warnings: string[] = [];
    if (!key) warnings.push('checkpoint signatures were not checked (no public key and no signing key)');
    if (key && checkpoints.length === 0) warnings.push('there are no signed checkpoints yet');
    if (acc.signedUpTo !== null && acc.lastSeq !== null && acc.signedUpTo < acc.lastSeq) {
      warnings.push(
        `records after seq ${acc.signedUpTo} are not yet covered by a signed checkpoint (chain-checked only)`,
      );
    }
    return {
      ok: sorted.length === 0,
      records: acc.records,
      range: { firstSeq: acc.firstSeq, lastSeq: acc.lastSeq },
      checkpointsVerified: acc.checkpointsVerified,
      signedUpTo: acc.signedUpTo,
      problems: sorted,
      signatures: publicKey ? 'trusted' : key ? 'embedded' : 'none',
      warnings,
    };
  }

  return {
    signingEnabled: signer !== null,

    /** Signs the chain head into audit_checkpoints (the scheduled job calls this). */
    async checkpoint(): Promise<{ signed: true; seq: number } | { signed: false; reason: string }> {
      if (!signer) return { signed: false, reason: 'PARLEY_AUDIT_SIGNING_KEY is not set' };
      return db.transaction().execute(async (trx) => {
        const head = await repo.head(trx);
        if (!head) return { signed: false as const, reason: 'the audit trail is empty' };
        const last = await repo.lastCheckpoint(trx);
        if (last && last.seq === head.seq && last.hash.equals(head.hash)) {
          return { signed: false as const, reason: `seq ${head.seq} is already signed` };
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
        return { signed: true as const, seq: head.seq };
      });
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
        const count = await db.transaction().execute(async (trx) => {
          const res = await repo.prune(trx, {
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
