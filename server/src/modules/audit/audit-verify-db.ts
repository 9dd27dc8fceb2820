// Verification of the live database chain (issue 21): the chain and signed checkpoints
// (audit-verify.ts), plus what a database superuser cannot forge —
//   - per-record MACs with the application-held key (PARLEY_AUDIT_MAC_KEYS);
//   - the external anchor log (AUDIT_ANCHOR_DIR or `--anchors DIR`): every anchored checkpoint
//     must be in the database, and the database's records must still have the anchored hashes;
//   - an earlier export (`--since FILE`): today's chain must extend it exactly;
//   - freshness: records left unsigned for more than two checkpoint intervals are a failure;
//   - archive anchors: only validly signed ones are trusted; others are ignored and reported.
// Every problem names the first affected seq.
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  archiveMessage,
  checkpointMessage,
  publicKeyFingerprint,
  verifySignature,
  type AuditSigner,
} from '../../platform/audit-signing.ts';
import type { AuditMacKeys } from '../../platform/audit-mac.ts';
import type { Executor } from '../../platform/db/database.ts';
import { readAnchorLog } from './audit-anchors.ts';
import { manifestSigningBytes, type ExportedRecord, type ParsedExport } from './audit-file.ts';
import type { AuditRepository, AuditRow } from './audit.repository.ts';
import { verifyChain, type Problem, type VerifyReport } from './audit-verify.ts';

export interface DbVerifyOptions {
  /** The external anchor log to compare with (default: AUDIT_ANCHOR_DIR when set). */
  anchorsDir?: string | undefined;
  /** An earlier export (file parsed): the chain must extend it exactly. */
  since?: ParsedExport | undefined;
  /** Check that the newest records are covered by a checkpoint (the live system; not a restored backup). */
  freshness?: { now: Date; intervalMs: number } | undefined;
}

type MacRow = AuditRow & { mac: string | null };

const cpOf = (c: {
  seq: number;
  hash: Buffer;
  signed_at: Date;
  key_fingerprint: string;
  signature: Buffer;
}) => ({
  seq: c.seq,
  hash: c.hash.toString('hex'),
  signedAt: c.signed_at.toISOString(),
  keyFingerprint: c.key_fingerprint,
  signature: c.signature.toString('base64'),
});

export function checkpointSignatureOk(
  key: KeyObject,
  cp: { seq: number; hash: string; signedAt: string; keyFingerprint: string; signature: string },
): boolean {
  return (
    cp.keyFingerprint === publicKeyFingerprint(key) &&
    verifySignature(
      key,
      checkpointMessage({ seq: cp.seq, hash: cp.hash, signedAt: cp.signedAt }),
      Buffer.from(cp.signature, 'base64'),
    )
  );
}

export function createDatabaseVerifier(deps: {
  db: Executor;
  repo: AuditRepository;
  signer: AuditSigner | null;
  macKeys: AuditMacKeys | null;
  anchorDir: string | undefined;
  toExported: (row: AuditRow) => ExportedRecord;
}) {
  const { repo, signer, macKeys } = deps;

  return async function verifyDatabase(
    publicKey: KeyObject | null,
    executor: Executor = deps.db,
    chunkSize = 20_000,
    opts: DbVerifyOptions = {},
  ): Promise<VerifyReport> {
    const key = publicKey ?? (signer ? createPublicKey(signer.publicKeyPem) : null);
    const extra: Problem[] = [];
    const warnings: string[] = [];

    // Archive anchors: only a validly signed one may start the chain.
    const archives = await repo.allArchives(executor);
    let anchor: { seq: number; hash: string } | null = null;
    for (const a of archives) {
      const signedOk =
        key !== null &&
        a.signature !== null &&
        a.key_fingerprint === publicKeyFingerprint(key) &&
        verifySignature(
          key,
          archiveMessage({
            firstSeq: a.first_seq,
            lastSeq: a.last_seq,
            lastHash: a.last_hash,
            fileName: a.file_name,
            fileSha256: a.file_sha256,
          }),
          a.signature,
        );
      if (signedOk || key === null) {
        if (!anchor || a.last_seq > anchor.seq)
          anchor = { seq: a.last_seq, hash: a.last_hash.toString('hex') };
      } else {
        extra.push({
          kind: 'anchor',
          seq: a.first_seq,
          message: `the archive anchor row for seq ${a.first_seq}–${a.last_seq} is ${a.signature === null ? 'unsigned' : 'not validly signed'}: ignored (inserted with database access, or written before signed anchors)`,
        });
      }
    }
    if (key === null && archives.length > 0) {
      warnings.push('archive anchors were not checked (no public key): the newest one was taken on trust');
    }
    const first = anchor ? anchor.seq + 1 : 1;
    const allCheckpoints = (await repo.checkpointsBetween(executor, 1, Number.MAX_SAFE_INTEGER)).map(cpOf);
    const checkpoints = allCheckpoints.filter((c) => c.seq >= first);

    // The external anchor log: which seqs' hashes we need from the database.
    // The configured anchor log describes the live database only: a restored copy (backup
    // verify) or another executor's view is compared with it only when asked explicitly.
    const anchorsDir = opts.anchorsDir ?? (executor === deps.db ? deps.anchorDir : undefined);
    const anchorLog = anchorsDir ? await readAnchorLog(anchorsDir) : null;
    const wanted = new Map<number, string | null>();
    for (const a of anchorLog?.anchors ?? []) wanted.set(a.seq, null);
    const since = opts.since;
    const sinceRecords = new Map<number, string>();
    for (const r of since?.records ?? []) sinceRecords.set(r.seq, r.hash);
    const sinceHead = since?.manifest?.head;
    if (sinceHead) wanted.set(sinceHead.seq, null);
    for (const cp of since?.manifest?.checkpoints ?? []) wanted.set(cp.seq, null);

    // MACs, streamed with the chain.
    let macFirstSeen: number | null = null;
    const unmacced: { first: number | null; last: number } = { first: null, last: 0 };
    const checkMac = (r: MacRow) => {
      if (!macKeys) return;
      if (r.mac === null) {
        if (macFirstSeen !== null) {
          extra.push({
            kind: 'mac',
            seq: r.seq,
            message: `seq ${r.seq} has no MAC although records before it have one: inserted or rewritten with database access`,
          });
        } else {
          unmacced.first ??= r.seq;
          unmacced.last = r.seq;
        }
        return;
      }
      macFirstSeen ??= r.seq;
      const result = macKeys.check(r.seq, r.hash, r.mac);
      if (result !== 'ok') {
        extra.push({
          kind: 'mac',
          seq: r.seq,
          message:
            result === 'bad'
              ? `seq ${r.seq} fails its MAC: inserted, edited or re-hashed with database access`
              : `seq ${r.seq} carries a MAC with key id "${r.mac.split(':')[1]}", which is not in PARLEY_AUDIT_MAC_KEYS (keep retired MAC keys in the list)`,
        });
      }
    };

    // The chain, in chunks (memory stays flat); each chunk repeats the last two records of the
    // one before, so links, gaps and swaps across the boundary are still seen.
    const problems = new Map<string, Problem>();
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
    let after = 0;
    for (;;) {
      const rows = (await repo.pageWithMac(executor, after, 2000)) as MacRow[];
      for (const row of rows) {
        const r = deps.toExported(row);
        checkMac(row);
        if (wanted.has(r.seq)) wanted.set(r.seq, r.hash);
        if (sinceRecords.has(r.seq) && sinceRecords.get(r.seq) !== r.hash) {
          extra.push({
            kind: 'since',
            seq: r.seq,
            message: `seq ${r.seq} differs from the earlier export: the chain does not extend it`,
          });
        }
        sinceRecords.delete(r.seq);
        chunk.push(r);
        if (chunk.length >= chunkSize) runChunk(false);
      }
      if (rows.length < 2000) break;
      after = rows[rows.length - 1]!.seq;
    }
    runChunk(true);
    const lastSeq = acc.lastSeq ?? anchor?.seq ?? 0;
    const dbFirst = acc.firstSeq ?? first;

    if (macKeys && unmacced.first !== null) {
      warnings.push(
        `seq ${unmacced.first}–${unmacced.last} were written before PARLEY_AUDIT_MAC_KEYS was set: chain and signatures only (a rewrite of them is caught by the first MAC'd record's link, by checkpoints and by the anchor log)`,
      );
    }
    if (!macKeys) {
      warnings.push(
        'record MACs were not checked (no PARLEY_AUDIT_MAC_KEYS): the chain and the signed checkpoints were; a record rewritten with database access after the newest checkpoint or anchor cannot be told from a real one',
      );
    }

    // The external anchor log.
    if (anchorLog) {
      for (const p of anchorLog.problems) extra.push({ kind: 'anchor', seq: null, message: p });
      if (!key && anchorLog.anchors.length > 0) {
        warnings.push('external anchor signatures were not checked (no public key)');
      }
      const dbCheckpoints = new Set(allCheckpoints.map((c) => `${c.seq}:${c.hash}`));
      let lastGood = dbFirst - 1;
      for (const a of anchorLog.anchors) {
        const where = `${a.file} line ${a.line}`;
        if (key && !checkpointSignatureOk(key, a)) {
          extra.push({
            kind: 'anchor',
            seq: a.seq,
            message: `the external anchor at ${where} (seq ${a.seq}) is not validly signed: ignored`,
          });
          continue;
        }
        if (a.seq < dbFirst) continue; // archived: the archive file holds those records
        const have = wanted.get(a.seq) ?? null;
        if (have === null) {
          extra.push({
            kind: 'deleted',
            seq: lastSeq + 1,
            message: `the external anchor log has seq ${a.seq} (${where}) but the database chain ends at seq ${lastSeq}: records from seq ${lastSeq + 1} were deleted`,
          });
          continue;
        }
        if (have !== a.hash) {
          // With MACs the exact record is named by its MAC; without, the range is all we know.
          extra.push({
            kind: 'anchor',
            seq: macKeys ? a.seq : lastGood + 1,
            message: `seq ${a.seq} differs from the external anchor (${where}): records in seq ${lastGood + 1}–${a.seq} were rewritten${macKeys ? '' : ' (set PARLEY_AUDIT_MAC_KEYS to name the exact record)'}`,
          });
          continue;
        }
        if (!dbCheckpoints.has(`${a.seq}:${a.hash}`)) {
          extra.push({
            kind: 'checkpoint',
            seq: a.seq,
            message: `the checkpoint at seq ${a.seq} (${where}) is missing from the database: checkpoint rows were deleted`,
          });
        }
        lastGood = a.seq;
      }
      const anchored = new Set(anchorLog.anchors.map((a) => `${a.seq}:${a.hash}`));
      const notAnchored = allCheckpoints.filter((c) => !anchored.has(`${c.seq}:${c.hash}`));
      if (notAnchored.length > 0) {
        warnings.push(
          `${notAnchored.length} checkpoint(s) are not in the external anchor log (newest at seq ${notAnchored[notAnchored.length - 1]!.seq}): anchoring failed, or the log is not the one this database writes to`,
        );
      }
    } else {
      warnings.push(
        'no external anchor log was compared (AUDIT_ANCHOR_DIR / --anchors): a superuser who rewrites records and deletes checkpoint rows is caught only by record MACs',
      );
    }

    // An earlier export.
    if (since) {
      const m = since.manifest;
      if (!m) {
        extra.push({ kind: 'since', seq: null, message: 'the earlier export has no manifest' });
      } else {
        if (
          key &&
          (m.signature === null ||
            !verifySignature(key, manifestSigningBytes(m), Buffer.from(m.signature, 'base64')))
        ) {
          extra.push({
            kind: 'since',
            seq: null,
            message: "the earlier export's manifest is not validly signed by the given key",
          });
        }
        for (const [seq] of sinceRecords) {
          if (seq >= dbFirst) {
            extra.push({
              kind: 'since',
              seq,
              message: `seq ${seq} of the earlier export is missing from the database`,
            });
          }
        }
        const points = [...(m.checkpoints ?? []), ...(m.head ? [m.head] : [])];
        for (const p of points) {
          if (p.seq < dbFirst) continue;
          const have = wanted.get(p.seq) ?? null;
          if (have === null) {
            extra.push({
              kind: 'since',
              seq: lastSeq + 1,
              message: `the earlier export reaches seq ${p.seq} but the database chain ends at seq ${lastSeq}: records from seq ${lastSeq + 1} were deleted`,
            });
          } else if (have !== p.hash) {
            extra.push({
              kind: 'since',
              seq: p.seq,
              message: `seq ${p.seq} differs from the earlier export: the chain does not extend it`,
            });
          }
        }
      }
    }

    // Freshness (the live system): unsigned records older than two checkpoint intervals.
    if (opts.freshness && key && acc.lastSeq !== null) {
      const limit = 2 * opts.freshness.intervalMs;
      const covered = acc.signedUpTo ?? dbFirst - 1;
      if (covered < acc.lastSeq) {
        const firstOpen = covered + 1;
        const row = await repo.recordAt(executor, firstOpen);
        const age = row ? opts.freshness.now.getTime() - row.occurred_at.getTime() : 0;
        if (row && age > limit) {
          extra.push({
            kind: 'stale',
            seq: firstOpen,
            message:
              acc.signedUpTo === null
                ? `there are records and no valid signed checkpoint; seq ${firstOpen} was written ${Math.round(age / 60_000)} min ago (limit: two checkpoint intervals, ${Math.round(limit / 60_000)} min)`
                : `records from seq ${firstOpen} (written ${Math.round(age / 60_000)} min ago) are not covered by a signed checkpoint after two checkpoint intervals (${Math.round(limit / 60_000)} min): the checkpoint job is not running, or checkpoints were deleted`,
          });
        }
      }
    }

    const all = [...problems.values(), ...extra];
    const seen = new Set<string>();
    const sorted = all
      .filter((p) => {
        const k = `${p.kind}:${p.seq}:${p.message}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      })
      .sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER));
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
  };
}
