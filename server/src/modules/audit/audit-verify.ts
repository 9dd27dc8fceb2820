// Offline verification of the audit chain: from an export file or from the database rows.
// Needs nothing but the records, the checkpoints and (for signatures) the public key.
// Every problem names a seq; the first problem is the first place the chain was tampered with.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { GENESIS_HASH, hashAuditRecord } from '../../platform/audit.ts';
import { checkpointMessage, publicKeyFingerprint, verifySignature } from '../../platform/audit-signing.ts';
import {
  bodyOf,
  manifestSigningBytes,
  recordsDigest,
  type ExportManifest,
  type ExportedCheckpoint,
  type ExportedRecord,
  type ParsedExport,
} from './audit-file.ts';

export type ProblemKind =
  | 'edited'
  | 'deleted'
  | 'inserted'
  | 'reordered'
  | 'unlinked'
  | 'checkpoint'
  | 'signature'
  | 'manifest'
  | 'unreadable'
  /** issue 21: a record's MAC, the external anchor log, an earlier export, freshness. */
  | 'mac'
  | 'anchor'
  | 'since'
  | 'stale';

export interface Problem {
  kind: ProblemKind;
  seq: number | null;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  records: number;
  range: { firstSeq: number | null; lastSeq: number | null };
  checkpointsVerified: number;
  /** 'trusted': checked with the key you gave; 'embedded': with the key in the file; 'none'. */
  signatures: 'trusted' | 'embedded' | 'none';
  /** Highest seq covered by a valid signed checkpoint (records after it are only chain-checked). */
  signedUpTo: number | null;
  problems: Problem[];
  warnings: string[];
}

export interface ChainInput {
  records: ExportedRecord[];
  /** The records are meant to be an unbroken run (full export or the database). */
  contiguous: boolean;
  /** (seq, hash) the first record continues from: an archive anchor, or null for genesis. */
  anchor: { seq: number; hash: string } | null;
  /** Where the run is expected to start (database: 1 or anchor + 1; file: manifest range). */
  expectedFirstSeq: number | null;
  checkpoints: ExportedCheckpoint[];
  publicKey: KeyObject | null;
  /** The run ends at the head: a signed checkpoint beyond the last record means records were cut off. Default true. */
  isTail?: boolean;
}

function hashWithSeq(r: ExportedRecord, seq: number): string {
  return hashAuditRecord(Buffer.from(r.prevHash, 'hex'), { ...bodyOf(r), seq }).toString('hex');
}

/** Checks a run of records; problems are sorted by seq. */
export function verifyChain(input: ChainInput): Omit<VerifyReport, 'signatures' | 'warnings'> {
  const problems: Problem[] = [];
  const { records } = input;
  const bySeq = new Map<number, ExportedRecord>();
  const selfOk = new Map<number, boolean>();
  const movedFrom = new Map<number, number>();

  // Pass 1: order, duplicates, each record's own hash (and whether it was renumbered).
  let prevSeq: number | null = null;
  for (const r of records) {
    if (prevSeq !== null && r.seq <= prevSeq) {
      problems.push({
        kind: r.seq === prevSeq ? 'inserted' : 'reordered',
        seq: r.seq,
        message:
          r.seq === prevSeq
            ? `seq ${r.seq} appears twice: a record was inserted`
            : `seq ${r.seq} appears after seq ${prevSeq}: records were reordered`,
      });
      continue;
    }
    prevSeq = r.seq;
    bySeq.set(r.seq, r);
    const ok = r.hashAlg === 'sha256' && hashWithSeq(r, r.seq) === r.hash;
    selfOk.set(r.seq, ok);
    if (!ok && r.hashAlg === 'sha256') {
      for (const candidate of [r.seq - 1, r.seq + 1]) {
        if (candidate >= 1 && hashWithSeq(r, candidate) === r.hash) movedFrom.set(r.seq, candidate);
      }
    }
  }
  const ordered = [...bySeq.values()];

  // Pass 2: interpret each record in seq order.
  for (let i = 0; i < ordered.length; i++) {
    const r = ordered[i]!;
    const prev = i > 0 ? ordered[i - 1]! : null;
    const moved = movedFrom.get(r.seq);
    if (r.hashAlg !== 'sha256') {
      problems.push({ kind: 'edited', seq: r.seq, message: `seq ${r.seq}: unknown hash algorithm` });
    } else if (moved !== undefined) {
      const partner = movedFrom.get(moved);
      if (moved === r.seq + 1 && partner === r.seq) {
        problems.push({
          kind: 'reordered',
          seq: r.seq,
          message: `seq ${r.seq} and seq ${moved} were swapped: records were reordered`,
        });
      } else if (moved === r.seq - 1 && partner === r.seq) {
        // the second half of a swap, already reported
      } else if (movedFrom.get(r.seq - 1) !== moved - 1) {
        problems.push(
          moved === r.seq + 1
            ? {
                kind: 'deleted',
                seq: r.seq,
                message: `the record at seq ${r.seq} was deleted (the records after it were renumbered down)`,
              }
            : {
                kind: 'inserted',
                seq: r.seq - 1,
                message: `seq ${r.seq - 1} was inserted (the records after it were renumbered up)`,
              },
        );
      }
    } else if (!selfOk.get(r.seq)) {
      problems.push({
        kind: 'edited',
        seq: r.seq,
        message: `seq ${r.seq} was edited: its content does not match its hash`,
      });
    }

    // Links between neighbours.
    if (prev && r.seq === prev.seq + 1 && selfOk.get(r.seq) && selfOk.get(prev.seq)) {
      if (r.prevHash !== prev.hash) {
        const beforePrev = bySeq.get(prev.seq - 1);
        if (beforePrev && r.prevHash === beforePrev.hash) {
          problems.push({
            kind: 'inserted',
            seq: prev.seq,
            message: `seq ${prev.seq} was inserted: seq ${r.seq} links to seq ${beforePrev.seq}`,
          });
        } else {
          problems.push({
            kind: 'unlinked',
            seq: r.seq,
            message: `seq ${r.seq} does not link to seq ${prev.seq}: a record at or before seq ${prev.seq} was replaced (hash recomputed), inserted or deleted`,
          });
        }
      }
    }
    if (input.contiguous && prev && r.seq > prev.seq + 1) {
      const first = prev.seq + 1;
      const last = r.seq - 1;
      problems.push({
        kind: 'deleted',
        seq: first,
        message: first === last ? `seq ${first} was deleted` : `seq ${first} to ${last} were deleted`,
      });
    }
  }

  // The start of the run.
  const first = ordered[0];
  if (first && input.contiguous) {
    if (input.expectedFirstSeq !== null && first.seq > input.expectedFirstSeq) {
      problems.push({
        kind: 'deleted',
        seq: input.expectedFirstSeq,
        message: `seq ${input.expectedFirstSeq} to ${first.seq - 1} were deleted (the run starts at ${first.seq})`,
      });
    } else if (first.seq === 1 && first.prevHash !== GENESIS_HASH.toString('hex') && selfOk.get(1)) {
      problems.push({ kind: 'unlinked', seq: 1, message: 'seq 1 does not start from the genesis hash' });
    } else if (
      input.anchor &&
      first.seq === input.anchor.seq + 1 &&
      first.prevHash !== input.anchor.hash &&
      selfOk.get(first.seq)
    ) {
      problems.push({
        kind: 'unlinked',
        seq: first.seq,
        message: `seq ${first.seq} does not link to the archive anchor (seq ${input.anchor.seq})`,
      });
    }
  }

  // Checkpoints: the signature, and the hash of the record it names.
  let checkpointsVerified = 0;
  let signedUpTo: number | null = null;
  for (const cp of input.checkpoints) {
    if (input.publicKey) {
      const fp = publicKeyFingerprint(input.publicKey);
      if (cp.keyFingerprint !== fp) {
        problems.push({
          kind: 'signature',
          seq: cp.seq,
          message: `the checkpoint at seq ${cp.seq} was signed by key ${cp.keyFingerprint.slice(0, 16)}…, not by the given key ${fp.slice(0, 16)}…`,
        });
        continue;
      }
      const signed = verifySignature(
        input.publicKey,
        checkpointMessage({ seq: cp.seq, hash: cp.hash, signedAt: cp.signedAt }),
        Buffer.from(cp.signature, 'base64'),
      );
      if (!signed) {
        problems.push({
          kind: 'signature',
          seq: cp.seq,
          message: `the checkpoint at seq ${cp.seq} has an invalid signature (checkpoint altered)`,
        });
        continue;
      }
    }
    const r = bySeq.get(cp.seq);
    const lastSeen = ordered[ordered.length - 1]?.seq ?? 0;
    if (!r && input.contiguous && (input.isTail ?? true) && cp.seq > lastSeen) {
      problems.push({
        kind: 'deleted',
        seq: lastSeen + 1,
        message: `a checkpoint was signed at seq ${cp.seq} but the chain ends at seq ${lastSeen}: records from seq ${lastSeen + 1} were deleted`,
      });
      continue;
    }
    if (r && r.hash !== cp.hash) {
      problems.push({
        kind: 'checkpoint',
        seq: cp.seq,
        message: `seq ${cp.seq} differs from the checkpoint signed at ${cp.signedAt}: records at or before it were rewritten`,
      });
      continue;
    }
    if (r) {
      checkpointsVerified++;
      if (input.publicKey && (signedUpTo === null || cp.seq > signedUpTo)) signedUpTo = cp.seq;
    }
  }

  problems.sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER));
  return {
    ok: problems.length === 0,
    records: ordered.length,
    range: { firstSeq: ordered[0]?.seq ?? null, lastSeq: ordered[ordered.length - 1]?.seq ?? null },
    checkpointsVerified,
    signedUpTo,
    problems,
  };
}

function expandRuns(runs: [number, number][]): Set<number> {
  const s = new Set<number>();
  for (const [a, b] of runs) for (let x = a; x <= b && s.size < 50_000_000; x++) s.add(x);
  return s;
}

/** Verifies a parsed export file. `trustedKey` is the public key the auditor trusts. */
export function verifyExport(parsed: ParsedExport, trustedKey: KeyObject | null): VerifyReport {
  const warnings: string[] = [];
  const problems: Problem[] = [];
  for (const u of parsed.unreadable) {
    problems.push({ kind: 'unreadable', seq: null, message: `line ${u.line} cannot be read: ${u.message}` });
  }
  const manifest: ExportManifest | null = parsed.manifest;
  if (!manifest) {
    problems.push({ kind: 'manifest', seq: null, message: 'the manifest is missing' });
  }

  let key: KeyObject | null = trustedKey;
  let signatures: VerifyReport['signatures'] = trustedKey ? 'trusted' : 'none';
  if (!trustedKey && manifest?.publicKey) {
    try {
      key = createPublicKey(manifest.publicKey.pem);
      signatures = 'embedded';
      warnings.push(
        'signatures were checked with the public key inside the file; pass --public-key with the key you hold to make the check independent',
      );
    } catch {
      problems.push({
        kind: 'manifest',
        seq: null,
        message: 'the public key in the manifest cannot be read',
      });
    }
  }

  if (manifest) {
    if (manifest.signature === null) {
      warnings.push('the export is not signed (no PARLEY_AUDIT_SIGNING_KEY when it was made)');
      if (trustedKey) problems.push({ kind: 'signature', seq: null, message: 'the manifest is not signed' });
    } else if (key) {
      if (!verifySignature(key, manifestSigningBytes(manifest), Buffer.from(manifest.signature, 'base64'))) {
        problems.push({
          kind: 'signature',
          seq: null,
          message: 'the manifest signature does not match: the manifest was altered or signed by another key',
        });
      }
    }
    const listed = expandRuns(manifest.seqs);
    const present = new Set(parsed.records.map((r) => r.seq));
    for (const s of listed) {
      if (!present.has(s)) {
        problems.push({ kind: 'deleted', seq: s, message: `seq ${s} is listed in the manifest but missing` });
      }
    }
    for (const s of present) {
      if (!listed.has(s)) {
        problems.push({
          kind: 'inserted',
          seq: s,
          message: `seq ${s} is not listed in the manifest: inserted`,
        });
      }
    }
    if (parsed.records.length === listed.size && recordsDigest(parsed.records) !== manifest.recordsDigest) {
      problems.push({
        kind: 'manifest',
        seq: null,
        message: 'the records digest does not match the manifest (a record hash was changed)',
      });
    }
  }

  // The newest checkpoint after the range (version 2): beyond the head at export time means the
  // records after that head were cut off before the export was made.
  const newest = manifest?.newestCheckpoint;
  if (manifest && newest) {
    const signedOk =
      key !== null &&
      newest.keyFingerprint === publicKeyFingerprint(key) &&
      verifySignature(
        key,
        checkpointMessage({ seq: newest.seq, hash: newest.hash, signedAt: newest.signedAt }),
        Buffer.from(newest.signature, 'base64'),
      );
    if (key && !signedOk) {
      problems.push({
        kind: 'signature',
        seq: newest.seq,
        message: `the newest checkpoint (seq ${newest.seq}) has an invalid signature (checkpoint altered)`,
      });
    } else if (manifest.head && newest.seq > manifest.head.seq) {
      problems.push({
        kind: 'deleted',
        seq: manifest.head.seq + 1,
        message: `a checkpoint was signed at seq ${newest.seq} but the chain ended at seq ${manifest.head.seq} when exported: records from seq ${manifest.head.seq + 1} were deleted`,
      });
    } else if (manifest.head && newest.seq === manifest.head.seq && newest.hash !== manifest.head.hash) {
      problems.push({
        kind: 'checkpoint',
        seq: newest.seq,
        message: `the chain head at export (seq ${newest.seq}) differs from its signed checkpoint: records at or before it were rewritten`,
      });
    }
  }

  const chain = verifyChain({
    records: parsed.records,
    contiguous: manifest?.contiguous ?? false,
    anchor: manifest?.anchor ?? null,
    expectedFirstSeq: manifest?.contiguous ? manifest.range.firstSeq : null,
    checkpoints: manifest?.checkpoints ?? [],
    publicKey: key,
  });
  if (!key && (manifest?.checkpoints.length ?? 0) > 0) {
    warnings.push('checkpoint signatures were not checked (no public key)');
  }
  // One problem per seq and kind, chain problems first for the same seq.
  const seen = new Set<string>();
  const all = [...chain.problems, ...problems].filter((p) => {
    const k = `${p.kind}:${p.seq}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  all.sort((a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER));
  return { ...chain, ok: all.length === 0, problems: all, signatures, warnings };
}
