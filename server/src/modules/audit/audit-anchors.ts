// The external anchor log (issue 21, point 1): every signed checkpoint is also appended to files
// the database cannot reach — one file per UTC day (`anchors-YYYY-MM-DD.log`), one JSON line per
// checkpoint, each line carrying the SHA-256 of the line before it (across files), fsync'd before
// the checkpoint counts as anchored. Optionally the same anchor goes to a syslog/SIEM (RFC 5424
// over TCP or TLS, octet-counted framing of RFC 6587) and to an HTTP witness.
// A database superuser can rewrite the database; they cannot rewrite this log (another volume,
// another host, another team), and they cannot forge a line (each carries the Ed25519 signature
// of its checkpoint, which verification checks with the public key).
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export interface AnchorLine {
  v: 1;
  seq: number;
  hash: string;
  signedAt: string;
  /** The signature algorithm, named per line (Ed25519 today). */
  alg: 'ed25519';
  keyFingerprint: string;
  signature: string;
  writtenAt: string;
  /** SHA-256 (hex) of the previous line's text; 64 zeros for the first line. */
  prev: string;
}

export interface ReadAnchor extends AnchorLine {
  file: string;
  line: number;
}

export interface AnchorLogRead {
  anchors: ReadAnchor[];
  /** Broken links, unreadable lines: each names the file and line. */
  problems: string[];
}

const ZERO = '0'.repeat(64);
const FILE = /^anchors-(\d{4}-\d{2}-\d{2})\.log$/;
const lineHash = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

async function anchorFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => FILE.test(n)).sort();
}

/** Reads the whole log, checking the hash links. */
export async function readAnchorLog(dir: string): Promise<AnchorLogRead> {
  const out: AnchorLogRead = { anchors: [], problems: [] };
  let prev = ZERO;
  for (const name of await anchorFiles(dir)) {
    const text = await readFile(path.join(dir, name), 'utf8');
    const lines = text.split('\n');
    lines.forEach((raw, i) => {
      if (raw === '' && i === lines.length - 1) return;
      const where = `${name} line ${i + 1}`;
      let a: AnchorLine;
      try {
        a = JSON.parse(raw) as AnchorLine;
        if (a.v !== 1 || !Number.isInteger(a.seq) || typeof a.hash !== 'string')
          throw new Error('not an anchor');
      } catch (err) {
        out.problems.push(`${where} cannot be read (${(err as Error).message}): the anchor log was altered`);
        prev = lineHash(raw);
        return;
      }
      if (a.prev !== prev) {
        out.problems.push(
          `${where} (seq ${a.seq}) does not link to the line before it: anchor lines were removed, inserted or altered`,
        );
      }
      prev = lineHash(raw);
      out.anchors.push({ ...a, file: name, line: i + 1 });
    });
  }
  return out;
}

/** The newest anchor line (for the health view), without reading the whole log. */
export async function newestAnchor(dir: string): Promise<ReadAnchor | null> {
  const files = await anchorFiles(dir);
  for (let f = files.length - 1; f >= 0; f--) {
    const text = await readFile(path.join(dir, files[f]!), 'utf8');
    const lines = text.split('\n').filter((l) => l !== '');
    for (let i = lines.length - 1; i >= 0; i--) {
      try {
        return { ...(JSON.parse(lines[i]!) as AnchorLine), file: files[f]!, line: i + 1 };
      } catch {
        // an unreadable line: verification reports it; look further back for the age
      }
    }
  }
  return null;
}

async function lastLineHash(dir: string): Promise<string> {
  const files = await anchorFiles(dir);
  for (let f = files.length - 1; f >= 0; f--) {
    const text = await readFile(path.join(dir, files[f]!), 'utf8');
    const lines = text.split('\n').filter((l) => l !== '');
    if (lines.length > 0) return lineHash(lines[lines.length - 1]!);
  }
  return ZERO;
}

/** Appends one anchor and fsyncs the file (and the directory when the file is new). */
export async function appendAnchor(
  dir: string,
  cp: Omit<AnchorLine, 'v' | 'prev' | 'writtenAt' | 'alg'>,
  now = new Date(),
): Promise<AnchorLine> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const line: AnchorLine = {
    v: 1,
    seq: cp.seq,
    hash: cp.hash,
    signedAt: cp.signedAt,
    alg: 'ed25519',
    keyFingerprint: cp.keyFingerprint,
    signature: cp.signature,
    writtenAt: now.toISOString(),
    prev: await lastLineHash(dir),
  };
  const name = `anchors-${line.writtenAt.slice(0, 10)}.log`;
  const file = path.join(dir, name);
  const existed = (await anchorFiles(dir)).includes(name);
  const fh = await open(file, 'a', 0o600);
  try {
    await fh.appendFile(JSON.stringify(line) + '\n', 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (!existed) {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
  return line;
}

/** One RFC 5424 message (facility 13 "log audit", severity 5 "notice"), without framing. */
export function syslogMessage(a: AnchorLine, hostname = os.hostname()): string {
  const esc = (v: string) => v.replace(/["\\\]]/g, '\\$&');
  const sd =
    `[parley@32473 seq="${a.seq}" hash="${esc(a.hash)}" signedAt="${esc(a.signedAt)}" alg="${a.alg}"` +
    ` keyFingerprint="${esc(a.keyFingerprint)}" signature="${esc(a.signature)}" prev="${a.prev}"]`;
  const host = hostname.replace(/[^\x21-\x7e]/g, '').slice(0, 255) || '-';
  return `<109>1 ${a.writtenAt} ${host} parley ${process.pid} audit-anchor ${sd} parley audit checkpoint seq ${a.seq}`;
}

/** Sends one anchor to syslog over tcp:// or tls://, octet-counted (RFC 6587 §3.4.1). */
export function sendSyslog(
  url: string,
  a: AnchorLine,
  opts: { ca?: string | undefined; timeoutMs?: number } = {},
) {
  const u = new URL(url);
  const msg = Buffer.from(syslogMessage(a), 'utf8');
  const frame = Buffer.concat([Buffer.from(`${msg.length} `, 'ascii'), msg]);
  const port = Number(u.port);
  return new Promise<void>((resolve, reject) => {
    const socket =
      u.protocol === 'tls:'
        ? tls.connect({ host: u.hostname, port, servername: u.hostname, ...(opts.ca ? { ca: opts.ca } : {}) })
        : net.connect({ host: u.hostname, port });
    socket.setTimeout(opts.timeoutMs ?? 5000, () => socket.destroy(new Error(`syslog ${url}: timed out`)));
    socket.once('error', reject);
    socket.once(u.protocol === 'tls:' ? 'secureConnect' : 'connect', () => {
      socket.end(frame, () => resolve());
    });
  });
}

/** POSTs one anchor (JSON) to the HTTP witness; anything but 2xx is a failure. */
export async function sendWitness(url: string, a: AnchorLine, timeoutMs = 5000): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'parley-audit-anchor', ...a }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`witness ${url}: HTTP ${res.status}`);
}

/** The longest gap between two runs of a 5-field cron expression (minute and hour fields; a restricted day field counts as a day). */
export function cronMaxIntervalMs(expr: string): number {
  const [min = '*', hour = '*', dom = '*', mon = '*', dow = '*'] = expr.trim().split(/\s+/);
  const expand = (field: string, lo: number, hi: number): number[] => {
    const out = new Set<number>();
    for (const part of field.split(',')) {
      const [range = '*', stepText] = part.split('/');
      const step = stepText ? Number(stepText) : 1;
      let [a, b] = [lo, hi];
      if (range !== '*') {
        const [x, y] = range.split('-');
        a = Number(x);
        b = y === undefined ? (stepText ? hi : a) : Number(y);
      }
      if (!Number.isFinite(a) || !Number.isFinite(b) || !(step > 0)) return [];
      for (let v = a; v <= b; v += step) out.add(v);
    }
    return [...out].sort((p, q) => p - q);
  };
  const minutes = expand(min, 0, 59);
  const hours = expand(hour, 0, 23);
  if (minutes.length === 0 || hours.length === 0) return 86_400_000;
  const times = hours.flatMap((h) => minutes.map((m) => h * 60 + m));
  let gap = 0;
  for (let i = 0; i < times.length; i++) {
    const next = i + 1 < times.length ? times[i + 1]! : times[0]! + 1440;
    gap = Math.max(gap, next - times[i]!);
  }
  const daily = dom !== '*' || mon !== '*' || dow !== '*';
  return Math.max(gap, daily ? 1440 : 0) * 60_000;
}
