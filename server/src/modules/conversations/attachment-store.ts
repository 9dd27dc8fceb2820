// Where attachment bytes live. ATTACHMENT_STORAGE=database (default) keeps them in the
// attachments row (backups hold everything); volume keeps them as files under ATTACHMENT_DIR,
// one file per attachment at `<first two characters of its id>/<id>`.
//
// Crash safety on a volume:
// - a file is written to tmp/, fsynced, renamed into place and its directory fsynced BEFORE the
//   row that names it is inserted; so a committed row never points to a missing file;
// - a crash between the file and the commit leaves an orphan file: `sweepOrphans` (a daily
//   job) removes files no row names, once they are older than a grace period;
// - files of erased rows are removed after the erasing transaction commits. While a backup is
//   reading the volume (it holds VOLUME_LOCK), nothing is removed — the sweep does it later —
//   so an archive's database never names a file the archive lacks.
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import type { Database, Executor } from '../../platform/db/database.ts';

/** Advisory lock: backups hold it exclusively while they read the volume; removals share it. */
export const VOLUME_LOCK = 7_301_517_001;
const KEY = /^[0-9a-f]{2}\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TMP_DIR = 'tmp';
/** Orphans younger than this may belong to an upload still committing. */
export const ORPHAN_GRACE_MS = 60 * 60 * 1000;

export interface StoredAttachment {
  storage: string;
  storage_key: string | null;
  data: Buffer | null;
}

/** The backup volume of attachment files (see modules/backup). */
export function attachmentBackupVolume(dir: string) {
  return {
    name: 'attachments',
    dir,
    lockKey: VOLUME_LOCK,
    /** Temporary files of uploads in progress are not part of any attachment. */
    skip: (rel: string) => rel.startsWith(`${TMP_DIR}/`),
    /** Every file the database names, with its SHA-256: the archive must hold each one. */
    expectedFilesSql: `select storage_key as key, encode(sha256, 'hex') as sha256 from attachments where storage = 'volume'`,
  };
}

async function fsyncDir(dir: string) {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

export function createAttachmentStore(settings: {
  attachmentStorage: 'database' | 'volume';
  attachmentDir: string;
}) {
  const dir = settings.attachmentDir;

  function fileOf(key: string): string {
    if (!KEY.test(key)) throw new Error(`not an attachment storage key: ${key}`);
    return path.join(dir, key);
  }

  async function removeFiles(keys: readonly string[]): Promise<void> {
    for (const key of keys) await rm(fileOf(key), { force: true });
  }

  return {
    mode: settings.attachmentStorage,
    dir,

    /**
     * Volume mode: writes the bytes durably under a new key and returns it (null in database
     * mode: the caller stores the bytes in the row). The row must be inserted afterwards.
     */
    async write(id: string, data: Buffer): Promise<string | null> {
      if (settings.attachmentStorage === 'database') return null;
      const key = `${id.slice(0, 2)}/${id}`;
      const final = fileOf(key);
      const tmpDir = path.join(dir, TMP_DIR);
      await mkdir(tmpDir, { recursive: true, mode: 0o700 });
      await mkdir(path.dirname(final), { recursive: true, mode: 0o700 });
      const tmp = path.join(tmpDir, `${id}.${randomUUID().slice(0, 8)}.part`);
      const h = await open(tmp, 'wx', 0o600);
      try {
        await h.writeFile(data);
        await h.sync();
      } finally {
        await h.close();
      }
      try {
        await rename(tmp, final);
        await fsyncDir(path.dirname(final));
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      return key;
    },

    /** The bytes of a stored attachment, wherever they are. */
    async read(row: StoredAttachment): Promise<Buffer> {
      if (row.storage === 'volume' && row.storage_key) return readFile(fileOf(row.storage_key));
      return row.data ?? Buffer.alloc(0);
    },

    /** Volume keys of the attachments of these conversations (before deleting them). */
    async keysOfConversations(db: Executor, conversationIds: readonly string[]): Promise<string[]> {
      if (conversationIds.length === 0) return [];
      const rows = await db
        .selectFrom('attachments')
        .select('storage_key')
        .where('conversation_id', 'in', conversationIds)
        .where('storage', '=', 'volume')
        .execute();
      return rows.map((r) => r.storage_key).filter((k): k is string => k !== null);
    },

    /**
     * After the rows naming them are deleted and committed: removes the files. A file an
     * uncommitted upload wrote (kept after a failed insert) is removed the same way; a file some
     * row still names never is. Skipped while a backup reads the volume; the orphan sweep
     * removes them later. Returns how many were removed now.
     */
    async remove(db: Database, keys: readonly string[]): Promise<number> {
      if (keys.length === 0) return 0;
      return db.transaction().execute(async (trx) => {
        const { rows } = await sql<{
          ok: boolean;
        }>`select pg_try_advisory_xact_lock_shared(${VOLUME_LOCK}::bigint) as ok`.execute(trx);
        if (!rows[0]?.ok) return 0;
        // Never a file a row names (say an upload whose COMMIT succeeded but was not reported).
        const named = new Set(
          (
            await trx
              .selectFrom('attachments')
              .select('storage_key')
              .where('storage_key', 'in', keys)
              .execute()
          ).map((r) => r.storage_key),
        );
        const unnamed = keys.filter((k) => !named.has(k));
        await removeFiles(unnamed);
        return unnamed.length;
      });
    },

    /** Removes files no attachment row names (and stale temporary files), older than graceMs. */
    async sweepOrphans(db: Database, graceMs = ORPHAN_GRACE_MS, now = Date.now()) {
      const result = { checked: 0, removed: 0, skippedForBackup: false };
      let shards: string[];
      try {
        shards = await readdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return result;
        throw err;
      }
      const old = async (file: string) => {
        try {
          return now - (await stat(file)).mtimeMs > graceMs;
        } catch {
          return false;
        }
      };
      const candidates: string[] = [];
      const staleTmp: string[] = [];
      for (const shard of shards.sort()) {
        const shardDir = path.join(dir, shard);
        let names: string[];
        try {
          names = await readdir(shardDir);
        } catch {
          continue; // not a directory
        }
        for (const name of names) {
          const full = path.join(shardDir, name);
          if (shard === TMP_DIR) {
            if (await old(full)) staleTmp.push(full);
          } else if (KEY.test(`${shard}/${name}`) && (await old(full))) {
            candidates.push(`${shard}/${name}`);
          }
        }
      }
      result.checked = candidates.length;
      await db.transaction().execute(async (trx) => {
        const { rows } = await sql<{
          ok: boolean;
        }>`select pg_try_advisory_xact_lock_shared(${VOLUME_LOCK}::bigint) as ok`.execute(trx);
        if (!rows[0]?.ok) {
          result.skippedForBackup = true;
          return;
        }
        for (const f of staleTmp) await rm(f, { force: true });
        for (let i = 0; i < candidates.length; i += 500) {
          const batch = candidates.slice(i, i + 500);
          const named = new Set(
            (
              await trx
                .selectFrom('attachments')
                .select('storage_key')
                .where('storage_key', 'in', batch)
                .execute()
            ).map((r) => r.storage_key),
          );
          const orphans = batch.filter((k) => !named.has(k));
          await removeFiles(orphans);
          result.removed += orphans.length;
        }
      });
      return result;
    },
  };
}

export type AttachmentStore = ReturnType<typeof createAttachmentStore>;
