// The audit export file formats. Both carry every record's own prev_hash and hash, so each
// record can be checked on its own (filtered exports) and contiguous runs link; both carry a
// manifest (range, head, signed checkpoints, public key, a signature over itself).
//
// JSONL: line 1 is the manifest, then one record per line in seq order.
// CSV:   UTF-8 with BOM, CRLF, a header row, one record per row, then one last row
//        `#manifest,<manifest JSON>`. Empty unquoted = null, "" = empty text. A value that would
//        start a spreadsheet formula (= + - @ tab CR, after any leading ') gets one extra leading
//        ' so Excel shows it as text; the reader removes exactly that one.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../platform/canonical-json.ts';
import type { AuditOutcome, AuditRecordBody } from '../../platform/audit.ts';

export interface ExportedRecord extends AuditRecordBody {
  prevHash: string;
  hash: string;
}

export interface ExportedCheckpoint {
  seq: number;
  hash: string;
  signedAt: string;
  keyFingerprint: string;
  signature: string;
}

export interface ExportFilter {
  from?: string | undefined;
  to?: string | undefined;
  actor?: string | undefined;
  action?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
}

export interface ExportManifest {
  format: 'parley-audit-export';
  /** 2 when `newestCheckpoint` is present (issue 21); readers accept both. */
  version: 1 | 2;
  exportedAt: string;
  exportedBy: string | null;
  filter: ExportFilter;
  /** True when only the period was filtered: the records are one unbroken run of the chain. */
  contiguous: boolean;
  range: { firstSeq: number | null; lastSeq: number | null; count: number };
  /** The exported seqs as [first, last] runs: a removed or added record is named by its seq. */
  seqs: [number, number][];
  /** SHA-256 over the exported records' hashes, in order. */
  recordsDigest: string;
  /** The chain head when exported, and the archive anchor the database chain starts from. */
  head: { seq: number; hash: string } | null;
  anchor: { seq: number; hash: string } | null;
  checkpoints: ExportedCheckpoint[];
  /** The newest signed checkpoint after the range, when there is one (version 2). */
  newestCheckpoint?: ExportedCheckpoint;
  publicKey: { fingerprint: string; pem: string } | null;
  /** Ed25519 over the canonical JSON of the manifest without this field (base64). */
  signature: string | null;
}

export const CSV_COLUMNS = [
  'seq',
  'occurred_at',
  'actor_id',
  'actor_name',
  'actor_ip',
  'actor_user_agent',
  'action',
  'target_type',
  'target_id',
  'outcome',
  'details',
  'hash_alg',
  'prev_hash',
  'hash',
] as const;

export function recordsDigest(records: readonly { hash: string }[]): string {
  const h = createHash('sha256');
  for (const r of records) h.update(Buffer.from(r.hash, 'hex'));
  return h.digest('hex');
}

export function seqRuns(seqs: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const s of seqs) {
    const last = runs[runs.length - 1];
    if (last && s === last[1] + 1) last[1] = s;
    else runs.push([s, s]);
  }
  return runs;
}

export function manifestSigningBytes(manifest: ExportManifest): Buffer {
  const { signature: _omit, ...rest } = manifest;
  return Buffer.from(canonicalJson(rest), 'utf8');
}

export function bodyOf(r: ExportedRecord): AuditRecordBody {
  return {
    seq: r.seq,
    occurredAt: r.occurredAt,
    actorId: r.actorId,
    actorName: r.actorName,
    actorIp: r.actorIp,
    actorUserAgent: r.actorUserAgent,
    action: r.action,
    targetType: r.targetType,
    targetId: r.targetId,
    outcome: r.outcome,
    details: r.details,
    hashAlg: r.hashAlg,
  };
}

// ---------- JSONL ----------

export function jsonlHeader(manifest: ExportManifest): string {
  return JSON.stringify(manifest) + '\n';
}

export function jsonlRecord(r: ExportedRecord): string {
  return JSON.stringify({ ...bodyOf(r), prevHash: r.prevHash, hash: r.hash }) + '\n';
}

// ---------- CSV ----------

const FORMULA_START = /^'*[=+\-@\t\r]/;

function csvField(value: string | null): string {
  if (value === null) return '';
  const v = FORMULA_START.test(value) ? `'${value}` : value;
  if (v === '' || /[",\r\n]/.test(v) || v !== v.trim()) return `"${v.replace(/"/g, '""')}"`;
  return v;
}

export const CSV_BOM = '\uFEFF';

export function csvHeader(): string {
  return CSV_BOM + CSV_COLUMNS.join(',') + '\r\n';
}

export function csvRecord(r: ExportedRecord): string {
  return (
    [
      String(r.seq),
      r.occurredAt,
      r.actorId,
      r.actorName,
      r.actorIp,
      r.actorUserAgent,
      r.action,
      r.targetType,
      r.targetId,
      r.outcome,
      canonicalJson(r.details),
      r.hashAlg,
      r.prevHash,
      r.hash,
    ]
      .map(csvField)
      .join(',') + '\r\n'
  );
}

export function csvTrailer(manifest: ExportManifest): string {
  return `#manifest,${csvField(JSON.stringify(manifest))}\r\n`;
}

/** RFC 4180 rows; each field is [text, wasQuoted]. */
function parseCsvRows(text: string): [string, boolean][][] {
  const rows: [string, boolean][][] = [];
  let row: [string, boolean][] = [];
  let i = 0;
  const n = text.length;
  while (i <= n) {
    let value = '';
    let quoted = false;
    if (text[i] === '"') {
      quoted = true;
      i++;
      for (;;) {
        if (i >= n) throw new Error('unterminated quoted field');
        const ch = text[i]!;
        if (ch === '"') {
          if (text[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += ch;
        i++;
      }
    } else {
      while (i < n && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') value += text[i++];
    }
    row.push([value, quoted]);
    if (i >= n) {
      if (!(row.length === 1 && row[0]![0] === '' && !quoted)) rows.push(row);
      break;
    }
    const sep = text[i]!;
    if (sep === ',') {
      i++;
      continue;
    }
    if (sep === '\r' && text[i + 1] === '\n') i += 2;
    else if (sep === '\r' || sep === '\n') i++;
    else throw new Error(`unexpected character after a quoted field at offset ${i}`);
    rows.push(row);
    row = [];
    if (i >= n) break;
  }
  return rows;
}

function unfield([value, quoted]: [string, boolean]): string | null {
  if (value === '' && !quoted) return null;
  return /^'+[=+\-@\t\r]/.test(value) ? value.slice(1) : value;
}

export interface ParsedExport {
  manifest: ExportManifest | null;
  records: ExportedRecord[];
  /** Lines/rows that could not be read, named by their position in the file. */
  unreadable: { line: number; message: string }[];
}

function parseManifest(text: string): ExportManifest {
  const m = JSON.parse(text) as ExportManifest;
  if (m.format !== 'parley-audit-export') throw new Error('not a Parley audit export manifest');
  return m;
}

function asRecord(o: Record<string, unknown>): ExportedRecord {
  const str = (k: string) => {
    const v = o[k];
    if (typeof v !== 'string') throw new Error(`${k}: expected text`);
    return v;
  };
  const opt = (k: string) => {
    const v = o[k];
    if (v !== null && typeof v !== 'string') throw new Error(`${k}: expected text or null`);
    return v;
  };
  const seq = o.seq;
  if (typeof seq !== 'number' || !Number.isInteger(seq)) throw new Error('seq: expected a whole number');
  const details = o.details;
  if (typeof details !== 'object' || details === null || Array.isArray(details))
    throw new Error('details: expected an object');
  return {
    seq,
    occurredAt: str('occurredAt'),
    actorId: opt('actorId'),
    actorName: opt('actorName'),
    actorIp: opt('actorIp'),
    actorUserAgent: opt('actorUserAgent'),
    action: str('action'),
    targetType: opt('targetType'),
    targetId: opt('targetId'),
    outcome: str('outcome') as AuditOutcome,
    details: details as Record<string, unknown>,
    hashAlg: str('hashAlg') as 'sha256',
    prevHash: str('prevHash'),
    hash: str('hash'),
  };
}

export function parseJsonl(text: string): ParsedExport {
  const out: ParsedExport = { manifest: null, records: [], unreadable: [] };
  const lines = text.split('\n');
  lines.forEach((line, idx) => {
    if (line.trim() === '') return;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (idx === 0 && o.format === 'parley-audit-export') out.manifest = parseManifest(line);
      else out.records.push(asRecord(o));
    } catch (err) {
      out.unreadable.push({ line: idx + 1, message: (err as Error).message });
    }
  });
  return out;
}

export function parseCsv(text: string): ParsedExport {
  const out: ParsedExport = { manifest: null, records: [], unreadable: [] };
  const rows = parseCsvRows(text.startsWith(CSV_BOM) ? text.slice(1) : text);
  rows.forEach((row, idx) => {
    const line = idx + 1;
    try {
      if (idx === 0) {
        if (row.map((f) => f[0]).join(',') !== CSV_COLUMNS.join(',')) throw new Error('unexpected header');
        return;
      }
      if (row[0]?.[0] === '#manifest') {
        out.manifest = parseManifest(unfield(row[1] ?? ['', false]) ?? '');
        return;
      }
      if (row.length !== CSV_COLUMNS.length)
        throw new Error(`expected ${CSV_COLUMNS.length} fields, got ${row.length}`);
      const f = row.map(unfield);
      const seqText = f[0] ?? '';
      if (!/^\d+$/.test(seqText)) throw new Error('seq: expected a whole number');
      out.records.push(
        asRecord({
          seq: Number(seqText),
          occurredAt: f[1],
          actorId: f[2],
          actorName: f[3],
          actorIp: f[4],
          actorUserAgent: f[5],
          action: f[6],
          targetType: f[7],
          targetId: f[8],
          outcome: f[9],
          details: JSON.parse(f[10] ?? 'null') as unknown,
          hashAlg: f[11],
          prevHash: f[12],
          hash: f[13],
        }),
      );
    } catch (err) {
      out.unreadable.push({ line, message: (err as Error).message });
    }
  });
  return out;
}

export function parseExport(text: string, fileName = ''): ParsedExport {
  const looksCsv = fileName.toLowerCase().endsWith('.csv') || text.startsWith(CSV_BOM);
  return looksCsv ? parseCsv(text) : parseJsonl(text);
}
