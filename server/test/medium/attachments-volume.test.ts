// Attachments on a volume (ATTACHMENT_STORAGE=volume): durable files named by the row, served,
// exported, erased (by request and by retention), orphans swept, and carried by backups.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { createContainer } from '../../src/container.ts';
import { createAttachmentStore, VOLUME_LOCK } from '../../src/modules/conversations/attachment-store.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createTestApp, signIn } from '../support/app.ts';
import { createEmptyDatabase } from '../support/db.ts';

const scratch = mkdtempSync(path.join(tmpdir(), 'parley-attachments-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const volume = path.join(scratch, 'volume');
const t = await createTestApp({
  ATTACHMENT_STORAGE: 'volume',
  ATTACHMENT_DIR: volume,
  BACKUP_DIR: path.join(scratch, 'backups'),
  CONVERSATION_RETENTION_DAYS: '30',
});
await t.app.listen({ host: '127.0.0.1', port: 0 });
const address = t.app.server.address();
const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
const actor = { id: null, name: 'test', ip: null, userAgent: null };

const png = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

async function visitor() {
  const session = await fetch(`${base}/api/v1/widget/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  const { token, contactId } = (await session.json()) as { token: string; contactId: string };
  const conv = await fetch(`${base}/api/v1/widget/conversations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  return { token, contactId, conversationId: ((await conv.json()) as { id: string }).id };
}

async function upload(v: { token: string; conversationId: string }, name: string, data: Buffer) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(data)]), name);
  const res = await fetch(
    `${base}/api/v1/widget/conversations/${v.conversationId}/attachments?clientId=${randomUUID()}`,
    { method: 'POST', headers: { authorization: `Bearer ${v.token}` }, body: form },
  );
  expect(res.status).toBe(201);
  return ((await res.json()) as { message: { attachment: { id: string } } }).message.attachment.id;
}

function rowOf(id: string) {
  return t.container.db
    .selectFrom('attachments')
    .select(['storage', 'storage_key', 'data', 'sha256'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
}

/** Every attachment file on the volume (temporary files excluded). */
function volumeFiles(dir = volume): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .filter((rel) => !rel.startsWith('tmp'));
}

describe('attachments on a volume', () => {
  it('stores the bytes as a file the row names (not in the row) and serves them to the visitor and agents', async () => {
    const v = await visitor();
    const id = await upload(v, 'photo.png', png);
    const row = await rowOf(id);
    expect(row).toMatchObject({ storage: 'volume', data: null, storage_key: `${id.slice(0, 2)}/${id}` });
    expect(readFileSync(path.join(volume, row.storage_key!)).equals(png)).toBe(true);
    expect(volumeFiles(path.join(volume, 'tmp'))).toEqual([]);

    const asVisitor = await fetch(`${base}/api/v1/widget/attachments/${id}`, {
      headers: { authorization: `Bearer ${v.token}` },
    });
    expect(asVisitor.status).toBe(200);
    expect(Buffer.from(await asVisitor.arrayBuffer()).equals(png)).toBe(true);
    const admin = await signIn(t, 'admin');
    const asAgent = await t.app.inject({
      url: `/api/v1/attachments/${id}`,
      headers: { cookie: admin.cookie },
    });
    expect(asAgent.statusCode).toBe(200);
    expect(asAgent.rawPayload.equals(png)).toBe(true);
  });

  it('an upload whose row never commits leaves no file behind', async () => {
    const v = await visitor();
    const [teamA, teamB] = await Promise.all(
      ['a', 'b'].map(async () => {
        const row = await t.container.db
          .insertInto('teams')
          .values({ name: `t-${randomUUID().slice(0, 8)}` })
          .returning('id')
          .executeTakeFirstOrThrow();
        return row.id;
      }),
    );
    await t.container.db
      .updateTable('conversations')
      .set({ team_id: teamA })
      .where('id', '=', v.conversationId)
      .execute();
    const agent = await signIn(t, 'agent', { teamIds: [teamA!] });
    const before = volumeFiles();
    // A transfer to team B holds the row lock while the agent's upload (file already written)
    // waits for it; the check under the lock then refuses, and the transaction rolls back.
    const locker = new pg.Client({ connectionString: t.database.url });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('update conversations set team_id = $1 where id = $2', [teamB, v.conversationId]);
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(png)]), 'x.png');
      const upload = fetch(
        `${base}/api/v1/conversations/${v.conversationId}/attachments?clientId=${randomUUID()}`,
        {
          method: 'POST',
          headers: { cookie: agent.cookie },
          body: form,
        },
      );
      for (let i = 0; ; i++) {
        const { rows } = await locker.query<{ n: number }>(
          `select count(*)::int as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
            where not l.granted and a.datname = current_database()`,
        );
        if (rows[0]!.n > 0) break;
        if (i > 1200) throw new Error('the upload never waited on the row lock (30 s)');
        await new Promise((r) => setTimeout(r, 25));
      }
      // The file is on the volume now, its row not committed.
      expect(volumeFiles().length).toBe(before.length + 1);
      await locker.query('commit');
      expect((await upload).status).toBe(404);
    } finally {
      await locker.end();
    }
    expect(volumeFiles()).toEqual(before);
  });

  it('exports the files with the contact, and erasure removes them', async () => {
    const v = await visitor();
    const id = await upload(v, 'notes.txt', Buffer.from('invoice 42 for the customer\n'));
    const { storage_key } = await rowOf(id);
    const admin = await signIn(t, 'admin');
    const res = await t.app.inject({
      url: `/api/v1/contacts/${v.contactId}/export`,
      headers: { cookie: admin.cookie },
    });
    expect(res.statusCode).toBe(200);
    const dir = mkdtempSync(path.join(scratch, 'export-'));
    writeFileSync(path.join(dir, 'x.tar'), res.rawPayload);
    execFileSync('tar', ['-xf', 'x.tar'], { cwd: dir });
    const doc = JSON.parse(readFileSync(path.join(dir, 'contact.json'), 'utf8')) as {
      attachments: { path: string }[];
    };
    expect(readFileSync(path.join(dir, doc.attachments[0]!.path), 'utf8')).toBe(
      'invoice 42 for the customer\n',
    );

    const asked = await t.app.inject({
      method: 'POST',
      url: `/api/v1/contacts/${v.contactId}/erasure-request`,
      headers: { cookie: admin.cookie },
    });
    const erased = await t.app.inject({
      method: 'POST',
      url: `/api/v1/contacts/${v.contactId}/erase`,
      headers: { cookie: admin.cookie },
      payload: { confirmation: asked.json<{ confirmation: string }>().confirmation },
    });
    expect(erased.statusCode, erased.body).toBe(200);
    expect(existsSync(path.join(volume, storage_key!))).toBe(false);
  });

  it('retention erasure removes the files of the conversations it erases', async () => {
    const v = await visitor();
    const id = await upload(v, 'old.png', png);
    const { storage_key } = await rowOf(id);
    await t.container.db
      .updateTable('conversations')
      .set({
        status: 'resolved',
        resolved_at: new Date(Date.now() - 40 * 86_400_000),
        last_activity_at: new Date(Date.now() - 40 * 86_400_000),
      })
      .where('id', '=', v.conversationId)
      .execute();
    const report = await t.container.retention.run({ erase: true });
    expect(report.erased).toBeGreaterThanOrEqual(1);
    expect(existsSync(path.join(volume, storage_key!))).toBe(false);
  });

  it('the orphan sweep removes old files no row names (a crash before commit), and only those', async () => {
    const v = await visitor();
    const kept = (await rowOf(await upload(v, 'keep.png', png))).storage_key!;
    // What a crash between the durable file and the commit leaves behind.
    const orphanId = randomUUID();
    const orphan = `${orphanId.slice(0, 2)}/${orphanId}`;
    const store = createAttachmentStore(t.config);
    expect(await store.write(orphanId, Buffer.from('half-done upload'))).toBe(orphan);
    const young = randomUUID();
    await store.write(young, Buffer.from('upload still committing'));
    const old = (Date.now() - 2 * 3600_000) / 1000;
    for (const rel of [orphan, kept]) utimesSync(path.join(volume, rel), old, old);
    writeFileSync(path.join(volume, 'tmp', 'stale.part'), 'x');
    utimesSync(path.join(volume, 'tmp', 'stale.part'), old, old);

    const result = await store.sweepOrphans(t.container.db);
    expect(result.removed).toBe(1);
    expect(existsSync(path.join(volume, orphan))).toBe(false);
    expect(existsSync(path.join(volume, kept))).toBe(true);
    expect(existsSync(path.join(volume, `${young.slice(0, 2)}/${young}`))).toBe(true);
    expect(existsSync(path.join(volume, 'tmp', 'stale.part'))).toBe(false);
    // Every row still finds its file.
    const rows = await t.container.db
      .selectFrom('attachments')
      .select('storage_key')
      .where('storage', '=', 'volume')
      .execute();
    for (const r of rows) expect(statSync(path.join(volume, r.storage_key!)).isFile()).toBe(true);
  });

  it('removes no file while a backup holds the volume lock (the sweep removes it later)', async () => {
    const store = createAttachmentStore(t.config);
    const id = randomUUID();
    const key = (await store.write(id, Buffer.from('erased while a backup runs')))!;
    const backupSession = new pg.Client({ connectionString: t.database.url });
    await backupSession.connect();
    try {
      await backupSession.query('select pg_advisory_lock($1::bigint)', [VOLUME_LOCK]);
      expect(await store.remove(t.container.db, [key])).toBe(0);
      expect(existsSync(path.join(volume, key))).toBe(true);
    } finally {
      await backupSession.end();
    }
    expect(await store.remove(t.container.db, [key])).toBe(1);
    expect(existsSync(path.join(volume, key))).toBe(false);
  });

  it('never removes a file a row names', async () => {
    const v = await visitor();
    const { storage_key } = await rowOf(await upload(v, 'kept.png', png));
    const store = createAttachmentStore(t.config);
    expect(await store.remove(t.container.db, [storage_key!])).toBe(0);
    expect(readFileSync(path.join(volume, storage_key!)).equals(png)).toBe(true);
  });
});

describe('backups of volume-stored attachments', { timeout: 120_000 }, () => {
  it('create carries every file; verify checks them against the rows; restore writes them back', async () => {
    const v = await visitor();
    const id = await upload(v, 'contract.png', png);
    const { storage_key } = await rowOf(id);
    const created = await t.container.backup.create({ actor });
    const verified = await t.container.backup.verify(created.path, { actor });
    expect(verified.problems).toEqual([]);
    expect(verified.passed).toBe(true);

    const target = await createEmptyDatabase();
    const restoredVolume = path.join(scratch, 'restored-volume');
    const logger = createLogger('silent');
    const handle = openDatabase(target.url, { max: 2, connectTimeoutMs: 5000, logger });
    try {
      const other = createContainer({
        config: loadConfig({
          DATABASE_URL: target.url,
          PARLEY_LOG_LEVEL: 'silent',
          ATTACHMENT_STORAGE: 'volume',
          ATTACHMENT_DIR: restoredVolume,
          BACKUP_DIR: path.join(scratch, 'backups'),
        }),
        db: handle.db,
        logger,
      });
      await other.backup.restore(created.path, { actor, targetUrl: target.url });
      expect(readFileSync(path.join(restoredVolume, storage_key!)).equals(png)).toBe(true);
      const restored = await handle.db
        .selectFrom('attachments')
        .select('storage_key')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      expect(restored.storage_key).toBe(storage_key);
    } finally {
      await handle.close();
    }
  });

  it('verify fails, naming the file, when a file the database names is not in the archive', async () => {
    const v = await visitor();
    const id = await upload(v, 'lost.png', png);
    const { storage_key } = await rowOf(id);
    rmSync(path.join(volume, storage_key!)); // a broken volume (never Parley itself)
    const created = await t.container.backup.create({ actor });
    const verified = await t.container.backup.verify(created.path, { actor });
    expect(verified.passed).toBe(false);
    expect(verified.problems.join('\n')).toContain(storage_key!);
  });
});
