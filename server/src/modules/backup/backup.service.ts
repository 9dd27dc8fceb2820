// Backup, verification, restore and retention. See docs/OPERATIONS.md "Backup and restore" and
// archive-format.ts for the file format.
//
// create  : one REPEATABLE READ snapshot; pg_dump --snapshot streams into the archive while the
//           same snapshot computes per-table counts and fingerprints; written to NAME.partial,
//           fsynced, renamed; a NAME.json record sits next to it (size, SHA-256, verification).
// verify  : file SHA-256 vs its record, then decrypt + every segment/part hash while restoring
//           into a scratch database, then counts and fingerprints table by table; scratch dropped.
// restore : header checks (product, format, not from a newer Parley), target reachable and empty
//           (or --force), a full integrity pass over the archive, then one transaction (psql
//           --single-transaction) that is only committed once the whole archive checked out;
//           fingerprints compared; migrations applied forward; the restore audited in the target.
import { createHash, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { createReadStream, type Dirent } from 'node:fs';
import {
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { AuditActor, AuditTrail } from '../../platform/audit.ts';
import type { AuditService } from '../audit/audit.service.ts';
import { describeDbError, type Database, type DB } from '../../platform/db/database.ts';
import { migrate, readMigrationFiles } from '../../platform/db/migrator.ts';
import { PARLEY_VERSION } from '../../platform/version.ts';
import { createIdentityRepository } from '../identity/identity.repository.ts';
import { authorize, type Actor } from '../identity/permissions.ts';
import {
  ARCHIVE_EXTENSION,
  ArchiveWriter,
  openArchive,
  publicKeyId,
  readArchiveHeader,
  type ArchiveHeader,
  type OpenedArchive,
  type PartSummary,
} from './archive-format.ts';
import { BackupError } from './backup.errors.ts';
import {
  appliedMigrations,
  beginSnapshot,
  countParleyConnections,
  countPublicRelations,
  FINGERPRINT_METHOD,
  tableFingerprints,
  type BackupRepository,
  type TableFingerprint,
} from './backup.repository.ts';
import { libpqConnection, pgToolVersion, startTool, type RunningTool } from './pg-tools.ts';
import { planRetention, type RetentionPlan } from './retention.ts';

export interface BackupSettings {
  backupDir: string;
  backupEncryptPublicKey: string | undefined;
  backupDecryptPrivateKey: string | undefined;
  backupVerifyDatabaseUrl: string | undefined;
  backupKeepDaily: number;
  backupKeepWeekly: number;
  timezone: string;
  databaseConnectTimeoutMs: number;
  backupRpoHours: number;
  backupCron: string | undefined;
}

/** A directory of files that belongs in the backup (attachments stored on a volume). */
export interface BackupVolume {
  name: string;
  dir: string;
  /** Advisory lock held (exclusively) from the snapshot until the volume is read: whoever
   * deletes files on the volume shares it, so no file the snapshot names disappears meanwhile. */
  lockKey?: number;
  /** Files (relative paths) not to archive, e.g. temporary files of writes in progress. */
  skip?: (rel: string) => boolean;
  /** SQL listing the files the database names (columns key, sha256 hex): verify and restore
   * check that the archive holds each one, with that content. */
  expectedFilesSql?: string;
}

export interface Progress {
  phase: 'dump' | 'restore' | 'check' | 'compare';
  bytes: number;
  totalBytes?: number;
  rows?: number;
}

export interface Manifest {
  product: 'parley';
  parleyVersion: string;
  createdAt: string;
  migration: { version: number; name: string } | null;
  migrations: { version: number; name: string; checksum: string }[];
  postgres: { server: string; pgDump: string };
  fingerprintMethod: string;
  tables: TableFingerprint[];
  parts: PartSummary[];
}

export interface VerificationRecord {
  result: 'passed' | 'failed';
  verifiedAt: string;
  restoreMs: number | null;
  durationMs: number;
  failedTables: string[];
  error?: string;
}

/** The `.json` record next to each archive. */
export interface ArchiveRecord {
  archive: string;
  bytes: number;
  sha256: string;
  createdAt: string;
  parleyVersion: string;
  migration: { version: number; name: string } | null;
  encrypted: boolean;
  keyId: string | null;
  tables: number;
  rows: number;
  durationMs: number;
  verification: VerificationRecord | null;
}

export interface CreateResult {
  path: string;
  record: ArchiveRecord;
}

export interface TableComparison {
  table: string;
  expectedRows: number | null;
  actualRows: number | null;
  ok: boolean;
}

/** The audit chain of the restored copy, recomputed record by record (null: not checked). */
export interface AuditChainCheck {
  ok: boolean;
  records: number;
  problems: string[];
}

export interface VerifyResult {
  path: string;
  passed: boolean;
  tables: TableComparison[];
  auditChain: AuditChainCheck | null;
  problems: string[];
  restoreMs: number;
  durationMs: number;
  /** The scratch database the archive was restored into (dropped again). */
  scratchDatabase: string;
}

export interface RestoreResult {
  path: string;
  header: ArchiveHeader;
  tables: TableComparison[];
  auditChain: AuditChainCheck | null;
  restoreMs: number;
  durationMs: number;
  migrationsApplied: string[];
  replacedExisting: boolean;
}

export interface ListedArchive {
  name: string;
  path: string;
  bytes: number;
  createdAt: Date;
  parleyVersion: string;
  migration: number | null;
  encrypted: boolean;
  verification: VerificationRecord | null;
}

const recordPath = (archive: string) => `${archive}.json`;

function archiveFileName(at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace('.', '');
  return `parley-${stamp}-${randomBytes(2).toString('hex')}${ARCHIVE_EXTENSION}`;
}

async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function readRecord(archive: string): Promise<ArchiveRecord | null> {
  try {
    return JSON.parse(await readFile(recordPath(archive), 'utf8')) as ArchiveRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function writeRecord(archive: string, record: ArchiveRecord): Promise<void> {
  const tmp = `${recordPath(archive)}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, recordPath(archive));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((x) => Number(x) || 0);
  const pb = b.split(/[.+-]/).map((x) => Number(x) || 0);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function withDatabaseName(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Drops scratch databases over a day old: left by a verify that was killed (no verify runs a day). */
async function dropStaleScratchDatabases(admin: pg.Client, logger: Logger): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    `select datname from pg_database where datname ~ '^parley_verify_[0-9]+_[0-9a-f]+$'`,
  );
  const dayAgo = Date.now() / 1000 - 86_400;
  for (const { datname } of rows) {
    if (Number(datname.split('_')[2]) >= dayAgo) continue;
    await admin
      .query(`drop database if exists "${datname}" with (force)`)
      .then(() =>
        logger.warn({ scratch: datname }, 'dropped a scratch database left by an interrupted verify'),
      )
      .catch(() => undefined);
  }
}

/** A one-connection Kysely on another database (restored target or scratch copy). */
function kyselyOn(url: string): Kysely<DB> {
  const pool = new pg.Pool({ connectionString: url, max: 1, application_name: 'parley-backup' });
  // The scratch database is dropped WITH (FORCE) afterwards; a connection still closing then
  // gets "terminating connection", which must not become an unhandled error.
  pool.on('error', () => undefined);
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
}

async function connect(url: string, timeoutMs: number, what: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    application_name: 'parley-backup',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new BackupError('target_unreachable', `cannot reach ${what}: ${describeDbError(err)}`, {
      cause: err,
    });
  }
}

function compareTables(expected: TableFingerprint[], actual: TableFingerprint[]): TableComparison[] {
  const byName = new Map(actual.map((t) => [t.table, t]));
  const out: TableComparison[] = expected.map((e) => {
    const a = byName.get(e.table);
    byName.delete(e.table);
    return {
      table: e.table,
      expectedRows: e.rows,
      actualRows: a?.rows ?? null,
      ok: a !== undefined && a.rows === e.rows && a.fingerprint === e.fingerprint,
    };
  });
  for (const a of byName.values())
    out.push({ table: a.table, expectedRows: null, actualRows: a.rows, ok: false });
  return out;
}

async function writeWithBackpressure(
  stream: Writable,
  chunk: Buffer,
  failures: Promise<never>,
): Promise<void> {
  if (!stream.write(chunk)) await Promise.race([once(stream, 'drain'), failures]);
}

/** Walks a volume directory: relative paths of regular files, sorted. */
async function volumeFiles(dir: string, prefix = ''): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(path.join(dir, prefix), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await volumeFiles(dir, rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

/** Archives in `dir`, newest first, with their verification records. Reads files only. */
export async function listArchives(dir: string, logger?: Logger): Promise<ListedArchive[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(ARCHIVE_EXTENSION));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: ListedArchive[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      const [header, info, record] = await Promise.all([
        readArchiveHeader(file),
        stat(file),
        readRecord(file),
      ]);
      out.push({
        name,
        path: file,
        bytes: info.size,
        createdAt: new Date(header.createdAt),
        parleyVersion: header.parleyVersion,
        migration: header.migration?.version ?? null,
        encrypted: header.encryption !== null,
        verification: record?.verification ?? null,
      });
    } catch (err) {
      logger?.warn({ file, err: { message: (err as Error).message } }, 'unreadable archive skipped');
    }
  }
  return out.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
}

/** Applies retention to `dir`; only archives that passed verification are ever deleted. */
export async function pruneArchives(
  dir: string,
  settings: Pick<BackupSettings, 'backupKeepDaily' | 'backupKeepWeekly' | 'timezone'>,
  opts: { dryRun: boolean; logger?: Logger },
): Promise<RetentionPlan> {
  const archives = await listArchives(dir, opts.logger);
  const plan = planRetention(
    archives.map((a) => ({
      name: a.name,
      createdAt: a.createdAt,
      verification: a.verification?.result ?? null,
    })),
    {
      keepDaily: settings.backupKeepDaily,
      keepWeekly: settings.backupKeepWeekly,
      timezone: settings.timezone,
    },
  );
  if (!opts.dryRun) {
    for (const name of plan.prune) {
      await rm(path.join(dir, name), { force: true });
      await rm(recordPath(path.join(dir, name)), { force: true });
    }
  }
  return plan;
}

export function createBackupService(deps: {
  db: Database;
  databaseUrl: string | undefined;
  repo: BackupRepository;
  auditTrail: AuditTrail;
  settings: BackupSettings;
  logger: Logger;
  replica: string;
  volumes?: BackupVolume[];
  /** Checks the audit chain of a restored database (the audit module's verifier). */
  auditChain?: Pick<AuditService, 'verifyDatabase'>;
}) {
  const { db, repo, auditTrail, settings, logger } = deps;
  const volumes = deps.volumes ?? [];
  const publicKey: KeyObject | undefined = settings.backupEncryptPublicKey
    ? createPublicKey(settings.backupEncryptPublicKey)
    : undefined;

  function sourceUrl(): string {
    if (!deps.databaseUrl) throw new Error('no database URL is known to the backup service');
    return deps.databaseUrl;
  }

  /** backup_runs row and audit record, in one transaction; a failure here is logged, not thrown. */
  async function recordRun(
    actor: AuditActor,
    run: Parameters<BackupRepository['insertRun']>[1],
    action: string,
  ): Promise<void> {
    try {
      await db.transaction().execute(async (trx) => {
        await repo.insertRun(trx, run);
        await auditTrail.record(trx, actor, {
          action,
          targetType: 'backup',
          targetId: path.basename(run.archive),
          outcome: run.outcome,
          details: {
            ...run.detail,
            durationMs: run.durationMs,
            sizeBytes: run.sizeBytes,
            restoreMs: run.restoreMs,
          },
        });
      });
    } catch (err) {
      logger.warn({ err: { message: (err as Error).message } }, `could not record ${action} in the database`);
    }
  }

  /**
   * Streams the archive into `targetUrl` through `pg_restore -f - | psql --single-transaction`:
   * psql's input is only closed (committing) after the whole archive has been read and every
   * hash checked; on any failure both processes are killed and the transaction rolls back.
   */
  async function restoreInto(
    archive: OpenedArchive,
    targetUrl: string,
    opts: {
      preambleSql?: string;
      extractVolumes: boolean;
      onProgress?: (p: Progress) => void;
      totalBytes: number;
    },
  ): Promise<{ manifest: Manifest; restoreMs: number; files: Map<string, string> }> {
    const { conninfo, env } = libpqConnection(targetUrl);
    /** SHA-256 (hex) of every volume file part, by part name. */
    const files = new Map<string, string>();
    let fileHash: { name: string; hash: ReturnType<typeof createHash> } | undefined;
    let psql: RunningTool | undefined;
    let pgRestore: RunningTool | undefined;
    let failures: Promise<never> | undefined;
    let file: { handle: FileHandle; tmp: string; final: string } | undefined;
    let started = 0;
    let bytes = 0;
    try {
      for await (const ev of archive.events()) {
        if (ev.type === 'part-begin') {
          if (ev.name === 'database.dump') {
            started = performance.now();
            psql = startTool(
              'psql',
              [
                '-X',
                '-q',
                '-v',
                'ON_ERROR_STOP=1',
                '--single-transaction',
                '--no-password',
                '-f',
                '-',
                `--dbname=${conninfo}`,
              ],
              { env, stdout: 'ignore' },
            );
            if (opts.preambleSql) psql.child.stdin!.write(opts.preambleSql);
            pgRestore = startTool('pg_restore', ['--no-owner', '--no-acl', '-f', '-'], { env });
            pgRestore.child.stdout!.pipe(psql.child.stdin!, { end: false });
            failures = Promise.race([pgRestore.done, psql.done]).then(() => {
              throw new BackupError(
                'tool_failed',
                'pg_restore or psql ended before the archive was fully read',
              );
            });
            failures.catch(() => undefined);
          } else if (ev.name.startsWith('volume:')) {
            fileHash = { name: ev.name, hash: createHash('sha256') };
          }
          if (ev.name.startsWith('volume:') && opts.extractVolumes) {
            const [volumeName, ...rest] = ev.name.slice('volume:'.length).split('/');
            const rel = rest.join('/');
            const volume = volumes.find((v) => v.name === volumeName);
            if (!volume) {
              logger.warn(
                { part: ev.name },
                'the archive holds files of a volume that is not configured here; skipped',
              );
            } else if (rel.split('/').some((p) => p === '..' || p === '') || path.isAbsolute(rel)) {
              throw new BackupError('corrupt', `the archive names an unsafe file path: ${ev.name}`);
            } else {
              const final = path.join(volume.dir, rel);
              await mkdir(path.dirname(final), { recursive: true });
              const tmp = `${final}.restoring`;
              file = { handle: await open(tmp, 'w', 0o600), tmp, final };
            }
          }
        } else if (ev.type === 'data') {
          bytes += ev.chunk.length;
          if (pgRestore && failures) {
            await writeWithBackpressure(pgRestore.child.stdin!, ev.chunk, failures);
            opts.onProgress?.({ phase: 'restore', bytes, totalBytes: opts.totalBytes });
          } else {
            fileHash?.hash.update(ev.chunk);
            if (file) await file.handle.write(ev.chunk);
          }
        } else if (ev.part.name === 'database.dump' && pgRestore && failures) {
          pgRestore.child.stdin!.end();
          // If psql fails, pg_restore would block on a full pipe: whichever ends first decides.
          await Promise.race([
            pgRestore.done,
            psql!.done.then(() => {
              throw new BackupError('tool_failed', 'psql ended before pg_restore finished');
            }),
          ]);
          pgRestore = undefined;
        } else {
          if (fileHash) files.set(fileHash.name, fileHash.hash.digest('hex'));
          fileHash = undefined;
          if (file) {
            await file.handle.close();
            await rename(file.tmp, file.final);
            file = undefined;
          }
        }
      }
      if (!psql) throw new BackupError('corrupt', 'the archive has no database part');
      // Every segment and hash checked: only now may the restore transaction commit.
      psql.child.stdin!.end();
      await psql.done;
      return {
        manifest: archive.manifest() as unknown as Manifest,
        restoreMs: Math.round(performance.now() - started),
        files,
      };
    } catch (err) {
      psql?.child.kill('SIGKILL');
      pgRestore?.child.kill('SIGKILL');
      await Promise.allSettled([psql?.done, pgRestore?.done]);
      if (file) {
        await file.handle.close().catch(() => undefined);
        await rm(file.tmp, { force: true });
      }
      throw err;
    }
  }

  async function fingerprintsOf(url: string): Promise<TableFingerprint[]> {
    const client = await connect(url, settings.databaseConnectTimeoutMs, 'the restored database');
    try {
      await client.query('begin isolation level repeatable read read only');
      const result = await tableFingerprints(client);
      await client.query('rollback');
      return result;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Recomputes the audit chain of the database at `url` (hashes, links, signed checkpoints). */
  async function auditChainOf(url: string): Promise<AuditChainCheck | null> {
    if (!deps.auditChain) return null;
    const handle = kyselyOn(url);
    try {
      const report = await deps.auditChain.verifyDatabase(null, handle);
      return { ok: report.ok, records: report.records, problems: report.problems.map((p) => p.message) };
    } finally {
      await handle.destroy();
    }
  }

  /** Files the database at `url` names that the archive lacks (or holds with other content). */
  async function missingVolumeFiles(url: string, files: Map<string, string>): Promise<string[]> {
    const problems: string[] = [];
    for (const volume of volumes) {
      if (!volume.expectedFilesSql) continue;
      const client = await connect(url, settings.databaseConnectTimeoutMs, 'the restored database');
      try {
        const { rows } = await client.query<{ key: string; sha256: string }>(volume.expectedFilesSql);
        for (const row of rows) {
          const got = files.get(`volume:${volume.name}/${row.key}`);
          if (got === undefined)
            problems.push(`${volume.name} file ${row.key} is named in the database but not in the archive`);
          else if (got !== row.sha256)
            problems.push(`${volume.name} file ${row.key} differs from its recorded SHA-256`);
        }
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    return problems;
  }

  function privateKeyFor(given: string | undefined): string | undefined {
    return given ?? settings.backupDecryptPrivateKey;
  }

  const service = {
    encrypted: publicKey !== undefined,
    canDecrypt: settings.backupDecryptPrivateKey !== undefined,

    async create(opts: {
      actor: AuditActor;
      dir?: string;
      onProgress?: (p: Progress) => void;
    }): Promise<CreateResult> {
      const url = sourceUrl();
      const dir = path.resolve(opts.dir ?? settings.backupDir);
      const startedAt = new Date();
      const t0 = performance.now();
      let partial: string | undefined;
      let finalPath: string | undefined;
      let fh: FileHandle | undefined;
      let dump: RunningTool | undefined;
      let createdAt: Date | null = null;
      let client: pg.Client | undefined;
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        client = await connect(url, settings.databaseConnectTimeoutMs, 'the database');
        for (const key of new Set(volumes.flatMap((v) => (v.lockKey === undefined ? [] : [v.lockKey])))) {
          // Released when this connection closes, after the volumes are read.
          await client.query('select pg_advisory_lock($1::bigint)', [key]);
        }
        const snap = await beginSnapshot(client);
        createdAt = snap.takenAt;
        const pgDump = await pgToolVersion('pg_dump');
        const serverMajor = Math.floor(snap.serverVersionNum / 10000);
        if (pgDump.major < serverMajor) {
          throw new BackupError(
            'tool_missing',
            `pg_dump ${pgDump.major} is older than the PostgreSQL ${serverMajor} server; install postgresql-client-${serverMajor} or newer.`,
          );
        }
        const migrations = await appliedMigrations(client);
        const last = migrations.at(-1);
        finalPath = path.join(dir, archiveFileName(snap.takenAt));
        partial = `${finalPath}.partial`;
        fh = await open(partial, 'wx', 0o600);
        const writer = await ArchiveWriter.start(
          fh,
          {
            parleyVersion: PARLEY_VERSION,
            migration: last ? { version: last.version, name: last.name } : null,
            createdAt: snap.takenAt.toISOString(),
          },
          publicKey,
        );

        await writer.beginPart('database.dump', 'pg_dump-custom');
        const { conninfo, env } = libpqConnection(url);
        dump = startTool(
          'pg_dump',
          ['--format=custom', `--snapshot=${snap.snapshot}`, '--no-password', `--dbname=${conninfo}`],
          { env, stdin: 'ignore' },
        );
        // Same snapshot, same moment: counts and fingerprints agree with what pg_dump writes.
        const fingerprints = tableFingerprints(client);
        fingerprints.catch(() => undefined);
        let dumped = 0;
        for await (const chunk of dump.child.stdout!) {
          await writer.writePartData(chunk as Buffer);
          dumped += (chunk as Buffer).length;
          opts.onProgress?.({ phase: 'dump', bytes: dumped });
        }
        await dump.done;
        dump = undefined;
        const tables = await fingerprints;
        await writer.endPart();

        for (const volume of volumes) {
          for (const rel of await volumeFiles(volume.dir)) {
            if (volume.skip?.(rel)) continue;
            await writer.beginPart(`volume:${volume.name}/${rel}`, 'file');
            for await (const chunk of createReadStream(path.join(volume.dir, rel), {
              highWaterMark: 1024 * 1024,
            }))
              await writer.writePartData(chunk as Buffer);
            await writer.endPart();
          }
        }

        const manifest: Manifest = {
          product: 'parley',
          parleyVersion: PARLEY_VERSION,
          createdAt: snap.takenAt.toISOString(),
          migration: last ? { version: last.version, name: last.name } : null,
          migrations,
          postgres: { server: snap.serverVersion, pgDump: pgDump.text },
          fingerprintMethod: FINGERPRINT_METHOD,
          tables,
          parts: writer.parts,
        };
        await writer.finish(manifest as unknown as Record<string, unknown>);
        await fh.sync();
        await fh.close();
        fh = undefined;
        await rename(partial, finalPath);
        partial = undefined;

        const record: ArchiveRecord = {
          archive: path.basename(finalPath),
          bytes: writer.written,
          sha256: writer.fileSha256(),
          createdAt: snap.takenAt.toISOString(),
          parleyVersion: PARLEY_VERSION,
          migration: manifest.migration,
          encrypted: publicKey !== undefined,
          keyId: publicKey ? publicKeyId(publicKey) : null,
          tables: tables.length,
          rows: tables.reduce((n, t) => n + t.rows, 0),
          durationMs: Math.round(performance.now() - t0),
          verification: null,
        };
        try {
          await writeRecord(finalPath, record);
        } catch (err) {
          // An archive without its record would never be pruned or trusted: remove it too.
          await rm(finalPath, { force: true });
          throw err;
        }
        await recordRun(
          opts.actor,
          {
            kind: 'create',
            archive: finalPath,
            archiveCreatedAt: snap.takenAt,
            startedAt,
            outcome: 'success',
            sizeBytes: record.bytes,
            durationMs: record.durationMs,
            restoreMs: null,
            replica: deps.replica,
            detail: { tables: record.tables, rows: record.rows, encrypted: record.encrypted },
          },
          'backup.create',
        );
        return { path: finalPath, record };
      } catch (caught) {
        let err = caught;
        dump?.child.kill('SIGKILL');
        await fh?.close().catch(() => undefined);
        if (partial) await rm(partial, { force: true });
        if (isDiskFull(err)) {
          err = new BackupError(
            'disk_full',
            `disk full while writing the backup to ${dir}: the partial archive was removed; earlier backups are untouched. Free space or point BACKUP_DIR at a larger volume.`,
            { cause: err },
          );
        }
        await recordRun(
          opts.actor,
          {
            kind: 'create',
            archive: finalPath ?? dir,
            archiveCreatedAt: createdAt,
            startedAt,
            outcome: 'failure',
            sizeBytes: null,
            durationMs: Math.round(performance.now() - t0),
            restoreMs: null,
            replica: deps.replica,
            detail: { error: (err as Error).message },
          },
          'backup.create',
        );
        throw err;
      } finally {
        if (client) {
          await client.query('rollback').catch(() => undefined);
          await client.end().catch(() => undefined);
        }
      }
    },

    /** Proves an archive by restoring it into a scratch database and comparing every table. */
    async verify(
      archivePath: string,
      opts: { actor: AuditActor; privateKey?: string; onProgress?: (p: Progress) => void },
    ): Promise<VerifyResult> {
      const file = path.resolve(archivePath);
      const startedAt = new Date();
      const t0 = performance.now();
      const maintenanceUrl = settings.backupVerifyDatabaseUrl ?? sourceUrl();
      // The creation time is in the name so a later verify can drop copies a killed one left behind.
      const scratch = `parley_verify_${Math.floor(Date.now() / 1000)}_${randomBytes(6).toString('hex')}`;
      let scratchCreated = false;
      let header: ArchiveHeader | undefined;
      let record: ArchiveRecord | null = null;
      let result: VerifyResult | undefined;
      let failure: unknown;
      try {
        const size = (
          await stat(file).catch(() => {
            throw new BackupError('not_found', `no archive at ${file}`);
          })
        ).size;
        record = await readRecord(file);
        if (record) {
          opts.onProgress?.({ phase: 'check', bytes: 0, totalBytes: size });
          if (record.bytes !== size)
            throw new BackupError(
              size < record.bytes ? 'truncated' : 'corrupt',
              `the archive is ${size} bytes but was written with ${record.bytes}: the file changed since it was written.`,
            );
          if ((await fileSha256(file)) !== record.sha256)
            throw new BackupError(
              'corrupt',
              "the archive's SHA-256 does not match its record: the file changed since it was written.",
            );
        }
        const archive = await openArchive(file, { privateKey: privateKeyFor(opts.privateKey) });
        header = archive.header;
        const admin = await connect(
          maintenanceUrl,
          settings.databaseConnectTimeoutMs,
          'the server for the scratch database',
        );
        try {
          await dropStaleScratchDatabases(admin, logger);
          await admin.query(`create database "${scratch}"`);
          scratchCreated = true;
        } catch (err) {
          throw new BackupError(
            'scratch_database',
            `cannot create the scratch database for verification: ${(err as Error).message}. Grant CREATEDB to the database user or set BACKUP_VERIFY_DATABASE_URL.`,
          );
        } finally {
          await admin.end().catch(() => undefined);
        }
        const scratchUrl = withDatabaseName(maintenanceUrl, scratch);
        const { manifest, restoreMs, files } = await restoreInto(archive, scratchUrl, {
          extractVolumes: false,
          onProgress: opts.onProgress,
          totalBytes: size,
        });
        opts.onProgress?.({ phase: 'compare', bytes: size, totalBytes: size });
        const tables = compareTables(manifest.tables, await fingerprintsOf(scratchUrl));
        // The scratch copy is disposable: migrate it forward (which proves the upgrade path of an
        // older archive too), then recompute its audit chain on the current schema.
        let auditChain: AuditChainCheck | null = null;
        let fileProblems: string[] = [];
        const newestKnown = readMigrationFiles().at(-1)?.version ?? 0;
        if ((archive.header.migration?.version ?? 0) <= newestKnown) {
          await migrate(scratchUrl);
          auditChain = await auditChainOf(scratchUrl);
          fileProblems = await missingVolumeFiles(scratchUrl, files);
        }
        const problems = tables
          .filter((t) => !t.ok)
          .map((t) =>
            t.expectedRows === null
              ? `table ${t.table} is not in the manifest`
              : t.actualRows === null
                ? `table ${t.table} is missing after restore`
                : `table ${t.table}: ${t.expectedRows} rows expected, ${t.actualRows} restored${t.expectedRows === t.actualRows ? ', content differs' : ''}`,
          );
        // A faithful copy of a tampered audit trail is still a finding the operator must see.
        if (auditChain && !auditChain.ok)
          problems.push(
            `the audit chain in the archive does not verify: ${auditChain.problems[0] ?? 'unknown problem'}`,
          );
        problems.push(...fileProblems);
        result = {
          path: file,
          passed: problems.length === 0,
          tables,
          auditChain,
          problems,
          restoreMs,
          durationMs: Math.round(performance.now() - t0),
          scratchDatabase: scratch,
        };
        return result;
      } catch (err) {
        failure = err;
        throw err;
      } finally {
        if (scratchCreated) {
          const admin = await connect(
            maintenanceUrl,
            settings.databaseConnectTimeoutMs,
            'the server for the scratch database',
          ).catch(() => undefined);
          await admin
            ?.query(`drop database if exists "${scratch}" with (force)`)
            .catch((e: unknown) =>
              logger.warn(
                { err: { message: (e as Error).message }, scratch },
                'could not drop the scratch database',
              ),
            );
          await admin?.end().catch(() => undefined);
        }
        const passed = result?.passed ?? false;
        const verification: VerificationRecord = {
          result: passed ? 'passed' : 'failed',
          verifiedAt: new Date().toISOString(),
          restoreMs: result?.restoreMs ?? null,
          durationMs: Math.round(performance.now() - t0),
          failedTables: result?.tables.filter((t) => !t.ok).map((t) => t.table) ?? [],
          ...(failure ? { error: (failure as Error).message } : {}),
        };
        if (record) await writeRecord(file, { ...record, verification }).catch(() => undefined);
        await recordRun(
          opts.actor,
          {
            kind: 'verify',
            archive: file,
            archiveCreatedAt: header ? new Date(header.createdAt) : null,
            startedAt,
            outcome: passed ? 'success' : 'failure',
            sizeBytes: record?.bytes ?? null,
            durationMs: verification.durationMs,
            restoreMs: verification.restoreMs,
            replica: deps.replica,
            detail: {
              failedTables: verification.failedTables,
              ...(verification.error ? { error: verification.error } : {}),
            },
          },
          'backup.verify',
        );
      }
    },

    /** Restores an archive into `targetUrl` (default: Parley's own database). */
    async restore(
      archivePath: string,
      opts: {
        actor: AuditActor;
        targetUrl?: string;
        force?: boolean;
        privateKey?: string;
        onProgress?: (p: Progress) => void;
      },
    ): Promise<RestoreResult> {
      const file = path.resolve(archivePath);
      const t0 = performance.now();
      const targetUrl = opts.targetUrl ?? sourceUrl();
      const size = (
        await stat(file).catch(() => {
          throw new BackupError('not_found', `no archive at ${file}`);
        })
      ).size;
      const archive = await openArchive(file, { privateKey: privateKeyFor(opts.privateKey) });
      const { header } = archive;

      const known = readMigrationFiles();
      const newestKnown = known.at(-1)?.version ?? 0;
      if (
        (header.migration?.version ?? 0) > newestKnown ||
        compareVersions(header.parleyVersion, PARLEY_VERSION) > 0
      ) {
        throw new BackupError(
          'newer_archive',
          `the archive comes from Parley ${header.parleyVersion} (schema ${header.migration?.version ?? 0}); this is Parley ${PARLEY_VERSION} (schema ${newestKnown}). Restore it with Parley ${header.parleyVersion} or newer.`,
        );
      }

      const target = await connect(targetUrl, settings.databaseConnectTimeoutMs, 'the target database');
      let existing: number;
      let serving: number;
      try {
        existing = await countPublicRelations(target);
        serving = await countParleyConnections(target);
      } finally {
        await target.end().catch(() => undefined);
      }
      if (serving > 0) {
        throw new BackupError(
          'target_in_use',
          `Parley is still connected to the target database (${serving} connection(s) of a running \`parley serve\`). Stop every Parley process first (Kubernetes: scale the Deployment to 0), then restore.`,
        );
      }
      if (existing > 0 && !opts.force) {
        throw new BackupError(
          'target_not_empty',
          `the target database is not empty (${existing} tables, sequences or views in schema public). Restore into an empty database, or add --force to replace everything in its public schema.`,
        );
      }

      // Pass 1: read and check the whole archive before touching the target.
      let checked = 0;
      for await (const ev of archive.events()) {
        if (ev.type !== 'data') continue;
        checked += ev.chunk.length;
        opts.onProgress?.({ phase: 'check', bytes: checked, totalBytes: size });
      }
      const manifest = archive.manifest() as unknown as Manifest;
      const byVersion = new Map(known.map((f) => [f.version, f]));
      for (const m of manifest.migrations) {
        const mine = byVersion.get(m.version);
        if (!mine || mine.checksum !== m.checksum) {
          throw new BackupError(
            'newer_archive',
            `the archive's database has migration ${String(m.version).padStart(4, '0')}_${m.name} ${mine ? 'in a different version' : 'which this Parley does not know'}; restore it with the Parley that wrote it.`,
          );
        }
      }

      // Pass 2: restore in one transaction.
      const reopened = await openArchive(file, { privateKey: privateKeyFor(opts.privateKey) });
      const { restoreMs, files } = await restoreInto(reopened, targetUrl, {
        preambleSql:
          existing > 0 ? 'drop schema if exists public cascade;\ncreate schema public;\n' : undefined,
        extractVolumes: true,
        onProgress: opts.onProgress,
        totalBytes: size,
      });
      const tables = compareTables(manifest.tables, await fingerprintsOf(targetUrl));
      const failed = tables.filter((t) => !t.ok);
      if (failed.length > 0) {
        throw new BackupError(
          'verification_failed',
          `the archive WAS restored into the target, but ${failed.length} table(s) differ from the manifest: ${failed.map((t) => t.table).join(', ')}. Do not use this database; restore another backup.`,
        );
      }
      const migrated = await migrate(targetUrl);
      const fileProblems = await missingVolumeFiles(targetUrl, files);
      if (fileProblems.length > 0) {
        throw new BackupError(
          'verification_failed',
          `the archive WAS restored into the target, but ${fileProblems.length} file(s) the database names are missing or differ (${fileProblems[0]}). Do not use this database; restore another backup.`,
        );
      }
      // Checked on the migrated schema (an archive from an older Parley lacks newer audit tables).
      const auditChain = await auditChainOf(targetUrl);
      if (auditChain && !auditChain.ok) {
        logger.warn(
          { problem: auditChain.problems[0] },
          'the restored audit chain does not verify (it was like this in the backup)',
        );
      }
      const durationMs = Math.round(performance.now() - t0);

      // The restore goes into the restored database's own audit trail.
      const handle = kyselyOn(targetUrl);
      try {
        await handle.transaction().execute(async (trx) => {
          // Sessions revoked after the backup was taken (sign-outs, disabled users) would be
          // valid again: end them all, so everyone signs in against the restored accounts.
          const revoked = await createIdentityRepository().revokeAllSessions(trx);
          await auditTrail.record(trx, opts.actor, {
            action: 'backup.restore',
            targetType: 'backup',
            targetId: path.basename(file),
            details: {
              archiveCreatedAt: header.createdAt,
              archiveParleyVersion: header.parleyVersion,
              archiveMigration: header.migration?.version ?? null,
              migrationsApplied: migrated.applied.map((a) => a.file),
              replacedExisting: existing > 0,
              auditChainVerified: auditChain?.ok ?? null,
              restoreMs,
              durationMs,
              sessionsRevoked: Number(revoked.numUpdatedRows),
            },
          });
        });
      } finally {
        await handle.destroy();
      }
      return {
        path: file,
        header,
        tables,
        auditChain,
        restoreMs,
        durationMs,
        migrationsApplied: migrated.applied.map((a) => a.file),
        replacedExisting: existing > 0,
      };
    },

    list: (dir = settings.backupDir) => listArchives(dir, logger),

    /** Applies retention; only verified archives are ever deleted. */
    prune: (opts: { dir?: string; dryRun?: boolean } = {}) =>
      pruneArchives(opts.dir ?? settings.backupDir, settings, { dryRun: opts.dryRun ?? false, logger }),

    status: () => repo.status(db),

    /** What the admin console shows: last backup, last verified restore, the RPO alert, history. */
    async overview(actor: Actor) {
      authorize(actor, 'backups.read');
      const [s, runs] = await Promise.all([repo.status(db), repo.recentRuns(db, 20)]);
      const newestVerifiedAt = s.newestVerified?.archive_created_at ?? null;
      return {
        schedule: settings.backupCron ?? null,
        encrypted: publicKey !== undefined,
        rpoHours: settings.backupRpoHours,
        rpoExceeded:
          newestVerifiedAt === null ||
          s.now.getTime() - newestVerifiedAt.getTime() > settings.backupRpoHours * 3600_000,
        newestVerifiedAt: newestVerifiedAt?.toISOString() ?? null,
        runs: runs.map((r) => ({
          kind: r.kind as 'create' | 'verify',
          archive: path.basename(r.archive),
          archiveCreatedAt: r.archive_created_at?.toISOString() ?? null,
          startedAt: r.started_at.toISOString(),
          finishedAt: r.finished_at.toISOString(),
          outcome: r.outcome as 'success' | 'failure',
          sizeBytes: r.size_bytes,
          durationMs: r.duration_ms,
          restoreMs: r.restore_ms,
          replica: r.replica,
          error:
            typeof (r.detail as { error?: unknown }).error === 'string'
              ? (r.detail as { error: string }).error
              : null,
        })),
      };
    },
  };
  return service;
}

export type BackupService = ReturnType<typeof createBackupService>;
