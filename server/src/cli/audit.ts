// `parley audit …`: export, verify (offline, from a file or the database), keygen, checkpoint,
// archive. Verification of a file needs no database and no configuration: only the file and,
// to make the signature check independent, the public key.
import { createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { KeyObject } from 'node:crypto';
import type { Config } from '../config/config.ts';
import { createContainer } from '../container.ts';
import { generateSigningKeyPair, loadPublicKey } from '../platform/audit-signing.ts';
import { createLogger } from '../platform/logger.ts';
import { parseExport, type ExportFilter } from '../modules/audit/audit-file.ts';
import { cronMaxIntervalMs } from '../modules/audit/audit-anchors.ts';
import { verifyExport, type VerifyReport } from '../modules/audit/audit-verify.ts';
import type { ExportFormat } from '../modules/audit/audit.service.ts';
import { withDatabase } from './database.ts';

async function publicKeyFrom(file: string | undefined): Promise<KeyObject | null> {
  if (!file) return null;
  return loadPublicKey(await readFile(file, 'utf8'));
}

export function printReport(report: VerifyReport, json: boolean, source: string): number {
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return report.ok ? 0 : 1;
  }
  const range =
    report.range.firstSeq === null ? 'no records' : `seq ${report.range.firstSeq}–${report.range.lastSeq}`;
  console.log(
    `${source}: ${report.records} records (${range}), ${report.checkpointsVerified} signed checkpoints matched`,
  );
  console.log(
    `signatures: ${report.signatures === 'trusted' ? 'checked with the given public key' : report.signatures === 'embedded' ? 'checked with the key embedded in the export/config' : 'not checked'}`,
  );
  for (const w of report.warnings) console.log(`warning: ${w}`);
  if (report.ok) {
    console.log('OK: the audit chain is intact.');
    return 0;
  }
  const first = report.problems[0]!;
  console.log(`TAMPERED: ${first.message}`);
  for (const p of report.problems.slice(1, 20)) console.log(`  also: ${p.message}`);
  if (report.problems.length > 20) console.log(`  … and ${report.problems.length - 20} more`);
  return 1;
}

export async function auditVerifyFile(file: string, opts: { publicKey?: string | undefined; json: boolean }) {
  const text = await readFile(file, 'utf8');
  const report = verifyExport(parseExport(text, file), await publicKeyFrom(opts.publicKey));
  return printReport(report, opts.json, file);
}

/**
 * `parley audit verify --db [--anchors DIR] [--since EXPORT]`: the live chain, its MACs (when
 * PARLEY_AUDIT_MAC_KEYS is set), the external anchor log (DIR, else AUDIT_ANCHOR_DIR), an
 * earlier export it must extend, and freshness (records unsigned for two checkpoint intervals).
 */
export async function auditVerifyDb(
  config: Readonly<Config>,
  opts: {
    publicKey?: string | undefined;
    json: boolean;
    anchors?: string | undefined;
    since?: string | undefined;
  },
) {
  const key = await publicKeyFrom(opts.publicKey);
  const since = opts.since ? parseExport(await readFile(opts.since, 'utf8'), opts.since) : undefined;
  return withDatabase(config, async (handle) => {
    const container = createContainer({ config, db: handle.db, logger: createLogger('warn') });
    const report = await container.audit.verifyDatabase(key, undefined, undefined, {
      anchorsDir: opts.anchors,
      since,
      freshness: { now: new Date(), intervalMs: cronMaxIntervalMs(config.auditCheckpointSchedule) },
    });
    return printReport(report, opts.json, 'database');
  });
}

export async function auditExport(
  config: Readonly<Config>,
  opts: { format: ExportFormat; out: string | undefined; filter: ExportFilter },
) {
  return withDatabase(config, async (handle) => {
    const container = createContainer({ config, db: handle.db, logger: createLogger('warn') });
    const out = opts.out ? createWriteStream(opts.out, { mode: 0o600 }) : process.stdout;
    const manifest = await container.audit.exportForActor(
      { cli: true },
      opts.filter,
      opts.format,
      async (chunk) => {
        if (!out.write(chunk)) await once(out, 'drain');
      },
    );
    if (opts.out) {
      (out as ReturnType<typeof createWriteStream>).end();
      await once(out, 'finish');
    }
    console.error(
      `exported ${manifest.range.count} records${manifest.range.firstSeq === null ? '' : ` (seq ${manifest.range.firstSeq}–${manifest.range.lastSeq})`}${opts.out ? ` to ${opts.out}` : ''}; ${manifest.signature ? `manifest signed by key ${manifest.publicKey!.fingerprint.slice(0, 16)}…` : 'NOT signed (PARLEY_AUDIT_SIGNING_KEY unset)'}`,
    );
    return 0;
  });
}

export async function auditKeygen(opts: { out: string | undefined }) {
  const pair = generateSigningKeyPair();
  if (opts.out) {
    await writeFile(opts.out, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
    await writeFile(`${opts.out}.pub`, pair.publicKeyPem, { flag: 'wx' });
    console.log(`private key: ${opts.out} (set PARLEY_AUDIT_SIGNING_KEY to its content; keep it secret)`);
    console.log(`public key:  ${opts.out}.pub (give it to your auditors)`);
  } else {
    process.stdout.write(pair.privateKeyPem + pair.publicKeyPem);
  }
  console.log(`fingerprint: ${pair.fingerprint}`);
  return 0;
}

export async function auditCheckpoint(config: Readonly<Config>) {
  return withDatabase(config, async (handle) => {
    const container = createContainer({ config, db: handle.db, logger: createLogger('warn') });
    const r = await container.audit.checkpoint();
    console.log(r.signed ? `signed the head at seq ${r.seq}` : `not signed: ${r.reason}`);
    return r.signed || !r.reason.includes('PARLEY_AUDIT_SIGNING_KEY') ? 0 : 1;
  });
}

export async function auditArchive(config: Readonly<Config>) {
  return withDatabase(config, async (handle) => {
    const container = createContainer({ config, db: handle.db, logger: createLogger('warn') });
    const r = await container.audit.archive();
    console.log(
      r.archived
        ? `archived seq ${r.firstSeq}–${r.lastSeq} (${r.count} records) to ${r.file}, verified, then pruned`
        : `nothing archived: ${r.reason}`,
    );
    return 0;
  });
}
