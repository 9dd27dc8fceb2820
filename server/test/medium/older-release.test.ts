// Known answers from an older release (server/test/fixtures/older-release, written by the commit
// named in written-by.json, see its README): today's code must read yesterday's files.
//  - the audit export (JSONL and CSV): every hash and the signed checkpoint verify with the
//    fixture's public key, and today's writer reproduces both files byte for byte;
//  - the backup archive (an older schema): it verifies, restores, migrates forward, and the
//    restored audit chain verifies;
//  - the data-subject export: today's code, exporting the same contact from the restored
//    database, writes the same archive (only the export time differs).
// And a one-byte change to each file is caught, with a message that says where.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { createContainer, type Container } from '../../src/container.ts';
import {
  parseExport,
  csvHeader,
  csvRecord,
  csvTrailer,
  jsonlHeader,
  jsonlRecord,
} from '../../src/modules/audit/audit-file.ts';
import { verifyExport } from '../../src/modules/audit/audit-verify.ts';
import { loadPublicKey } from '../../src/platform/audit-signing.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { MIGRATIONS_DIR } from '../../src/platform/db/migrator.ts';
import { createLogger } from '../../src/platform/logger.ts';
import type { Actor } from '../../src/modules/identity/permissions.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { dropDatabase } from '../support/postgres.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/older-release');
const writtenBy = JSON.parse(readFileSync(path.join(FIXTURES, 'written-by.json'), 'utf8')) as {
  commit: string;
  contactId: string;
};
const keys = JSON.parse(readFileSync(path.join(FIXTURES, 'keys/keys.json'), 'utf8')) as {
  encryptionKeys: string;
  lookupKey: string;
};
const publicKey = loadPublicKey(readFileSync(path.join(FIXTURES, 'keys/audit-signing.pem.pub'), 'utf8'));
const scratch = mkdtempSync(path.join(tmpdir(), 'parley-older-release-'));
const logger = createLogger('silent');
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
});

const fixture = (name: string) => readFileSync(path.join(FIXTURES, name));

/** A copy of a fixture with one byte changed (verify writes next to archives: never the originals). */
function withOneByteChanged(name: string, at: number | ((bytes: Buffer) => number), to?: number): string {
  const bytes = fixture(name);
  const i = typeof at === 'number' ? at : at(bytes);
  bytes[i] = to ?? bytes[i]! ^ 0x01;
  const file = path.join(scratch, `changed-${i}-${name}`);
  writeFileSync(file, bytes);
  return file;
}

function copyOf(name: string): string {
  const file = path.join(scratch, name);
  copyFileSync(path.join(FIXTURES, name), file);
  return file;
}

/** The position of the first byte of `needle` (UTF-8) after `after` in a fixture. */
function positionOf(bytes: Buffer, needle: string, after = ''): number {
  const start = after ? bytes.indexOf(after) : 0;
  const at = bytes.indexOf(needle, start);
  if (start < 0 || at < 0) throw new Error(`"${needle}" not found in the fixture`);
  return at;
}

async function emptyDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase({ dropAfterAll: false });
  cleanups.push(() => dropDatabase(db.adminUrl, db.name));
  await dropDatabase(db.adminUrl, db.name);
  const c = new pg.Client({ connectionString: db.adminUrl });
  await c.connect();
  await c.query(`create database "${db.name}"`).finally(() => c.end());
  return db;
}

function containerFor(url: string): Container {
  const config = loadConfig({
    DATABASE_URL: url,
    PARLEY_LOG_LEVEL: 'silent',
    PARLEY_ENCRYPTION_KEYS: keys.encryptionKeys,
    PARLEY_LOOKUP_KEY: keys.lookupKey,
    BACKUP_DIR: path.join(scratch, 'backups'),
    BACKUP_CRON: 'off',
  });
  const handle = openDatabase(url, { max: 4, connectTimeoutMs: 5000, logger });
  cleanups.push(() => handle.close());
  return createContainer({ config, db: handle.db, logger, databaseUrl: url });
}

const system = { id: null, name: 'test', ip: null, userAgent: null };

describe(`the audit export written by ${writtenBy.commit.slice(0, 10)}`, () => {
  for (const name of ['audit-export.jsonl', 'audit-export.csv']) {
    const text = fixture(name).toString('utf8');

    it(`${name}: every hash and the signed checkpoint verify with the fixture's public key`, () => {
      const report = verifyExport(parseExport(text, name), publicKey);
      expect(report.problems).toEqual([]);
      expect(report).toMatchObject({
        ok: true,
        signatures: 'trusted',
        checkpointsVerified: 1,
        signedUpTo: 6,
      });
      expect(report.records).toBeGreaterThanOrEqual(7);
    });

    it(`${name}: today's writer reproduces the file byte for byte`, () => {
      const { manifest, records, unreadable } = parseExport(text, name);
      expect(unreadable).toEqual([]);
      const rewritten = name.endsWith('.csv')
        ? csvHeader() + records.map(csvRecord).join('') + csvTrailer(manifest!)
        : jsonlHeader(manifest!) + records.map(jsonlRecord).join('');
      expect(rewritten === text, `today's writer does not reproduce ${name}`).toBe(true);
    });
  }

  it('a one-byte change to a record is caught, naming the record', () => {
    // seq 3 is the team's creation: "售后服务组" becomes "售后服务组" (one byte of UTF-8 changed).
    const bytes = fixture('audit-export.jsonl');
    const file = withOneByteChanged('audit-export.jsonl', positionOf(bytes, '售', '"seq":3,') + 2);
    const report = verifyExport(parseExport(readFileSync(file, 'utf8'), file), publicKey);
    expect(report.ok).toBe(false);
    expect(report.problems[0]!.seq).toBe(3);
    expect(report.problems[0]!.message).toMatch(/seq 3/);
  });

  it('a one-byte change to the checkpoint signature is caught, naming the checkpoint', () => {
    const bytes = fixture('audit-export.jsonl');
    const at = positionOf(bytes, '"signature":"', '"checkpoints"') + '"signature":"'.length + 10;
    const file = withOneByteChanged('audit-export.jsonl', at, bytes[at] === 0x41 ? 0x42 : 0x41);
    const report = verifyExport(parseExport(readFileSync(file, 'utf8'), file), publicKey);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.message).join('\n')).toMatch(/checkpoint.*seq 6|seq 6.*checkpoint/i);
  });

  it('a one-byte change to the CSV is caught', () => {
    const bytes = fixture('audit-export.csv');
    const file = withOneByteChanged('audit-export.csv', positionOf(bytes, 'team.create') + 5);
    const report = verifyExport(parseExport(readFileSync(file, 'utf8'), file), publicKey);
    expect(report.ok).toBe(false);
    expect(report.problems[0]!.message).toMatch(/seq 3/);
  });
});

describe(`the backup archive and data-subject export written by ${writtenBy.commit.slice(0, 10)}`, () => {
  let target: TestDatabase;
  /** Today's Parley on a database of its own: it runs verify and restore. */
  let tool: Container;
  /** Today's Parley on the restored database. */
  let today: Container;
  let admin: Actor;

  beforeAll(async () => {
    target = await emptyDatabase();
    const own = await createTestDatabase({ dropAfterAll: false }); // (made in a hook: dropped by cleanups)
    cleanups.push(() => dropDatabase(own.adminUrl, own.name));
    tool = containerFor(own.url);
  });

  it('verifies (restored into a scratch database, every table compared, audit chain intact)', async () => {
    const result = await tool.backup.verify(copyOf('backup.parley-backup'), { actor: system });
    copyOf('backup.parley-backup.json'); // verify records its result next to the copy: put it back
    expect(result.problems).toEqual([]);
    expect(result.passed).toBe(true);
    expect(result.auditChain).toMatchObject({ ok: true });
  });

  it('restores into an empty database, migrates it forward, and the audit chain verifies', async () => {
    const result = await tool.backup.restore(copyOf('backup.parley-backup'), {
      actor: system,
      targetUrl: target.url,
    });
    today = containerFor(target.url);
    // The archive is of an older schema: today's migrations after it were applied.
    expect(result.header).toMatchObject({ migration: { version: 17 } });
    expect(result.migrationsApplied).toEqual(
      readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql') && Number(f.slice(0, 4)) > 17),
    );
    expect(result.migrationsApplied).toContain('0018_chat_write_path.sql');
    const chain = await today.audit.verifyDatabase(publicKey);
    expect(chain.problems).toEqual([]);
    expect(chain).toMatchObject({ ok: true, checkpointsVerified: 1 });
    const row = await today.db
      .selectFrom('users')
      .select(['id', 'username', 'display_name'])
      .where('username', '=', 'admin')
      .executeTakeFirstOrThrow();
    admin = {
      userId: row.id,
      username: row.username,
      displayName: row.display_name,
      role: 'admin',
      teamIds: [],
      sessionId: 'older-release-test',
      ip: null,
      userAgent: null,
    };
  });

  it('a one-byte change to the archive is refused as damaged, by restore and by verify', async () => {
    const damaged = withOneByteChanged('backup.parley-backup', (b) => Math.floor(b.length / 2));
    copyFileSync(path.join(FIXTURES, 'backup.parley-backup.json'), `${damaged}.json`);
    await expect(tool.backup.verify(damaged, { actor: system })).rejects.toMatchObject({
      code: 'corrupt',
      message: expect.stringMatching(/SHA-256 does not match/),
    });
    rmSync(`${damaged}.json`);
    const other = await emptyDatabase();
    await expect(
      today.backup.restore(damaged, { actor: system, targetUrl: other.url }),
    ).rejects.toMatchObject({
      code: 'corrupt',
      message: expect.stringMatching(/damaged/),
    });
  });

  it("today's data-subject export of the restored contact is the older release's, byte for byte", async () => {
    const { archive } = await today.contacts.exportContact(admin, writtenBy.contactId);
    expect(differences(fixture('contact-export.tar'), archive)).toEqual([]);
  });

  it('a one-byte change to the data-subject export is caught, naming the file and the byte', async () => {
    const { archive } = await today.contacts.exportContact(admin, writtenBy.contactId);
    const bytes = fixture('contact-export.tar');
    const changed = readFileSync(withOneByteChanged('contact-export.tar', positionOf(bytes, 'xiaoming') + 1));
    expect(differences(changed, archive)).toEqual([
      expect.stringMatching(/^contact\.json differs at byte \d+: .*xiaoming/),
    ]);
  });
});

/** Unpacks a tar with the system's tar: name → content. */
function unpack(tar: Buffer): Map<string, Buffer> {
  const dir = mkdtempSync(path.join(scratch, 'tar-'));
  writeFileSync(path.join(dir, 'x.tar'), tar);
  const out = path.join(dir, 'files');
  mkdirSync(out);
  execFileSync('tar', ['-xf', path.join(dir, 'x.tar'), '-C', out]);
  const files = new Map<string, Buffer>();
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(out, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      if (statSync(path.join(out, r)).isDirectory()) walk(r);
      else files.set(r, readFileSync(path.join(out, r)));
    }
  };
  walk('');
  return files;
}

/**
 * The data-subject export's format changes since the fixture was written, each declared here on
 * purpose (and in the release notes): the older document is brought to today's layout by exactly
 * these steps, then compared byte for byte. An undeclared change still fails.
 *  - Issue 13: the visitor's consent is a read-only record of its own, `contact.consent`
 *    ({ at, channelId, version }, version null on records from before notice versions), no longer
 *    a custom attribute (`contact.attributes.dataProcessingConsent`).
 *  - Each conversation carries `sourcePage` ({ url, title } or null) after `resolvedAt`: the page
 *    the visitor started from is their data too (null for conversations of the older release).
 */
function withDeclaredFormatChanges(olderText: string): string {
  const doc = JSON.parse(olderText) as {
    contact: Record<string, unknown>;
    conversations: Record<string, unknown>[];
  };
  const layout = (d: unknown) => JSON.stringify(d, null, 2) + (olderText.endsWith('\n') ? '\n' : '');
  // The steps re-serialize: the older file must already be in that exact layout.
  if (layout(doc) !== olderText) throw new Error('the older contact.json is not in the canonical layout');
  const contact: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc.contact)) {
    if (key !== 'attributes') {
      contact[key] = value;
      continue;
    }
    const { dataProcessingConsent, ...custom } = value as Record<string, unknown>;
    const consent = dataProcessingConsent as { at: string; channelId?: string; version?: string } | undefined;
    contact.attributes = custom;
    contact.consent = consent
      ? { at: consent.at, channelId: consent.channelId ?? null, version: consent.version ?? null }
      : null;
  }
  // 0.2: each conversation names the page the visitor started from, after resolvedAt (the older
  // release did not record it: null).
  const conversations = doc.conversations.map((c) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(c)) {
      out[key] = value;
      if (key === 'resolvedAt') out.sourcePage = null;
    }
    return out;
  });
  return layout({ ...doc, contact, conversations });
}

/**
 * What differs between the older release's export and today's: file names, then contents byte
 * for byte. contact.json's "exportedAt" is the one field that is meant to differ: the older
 * value is put in today's document before comparing.
 */
function differences(older: Buffer, todays: Buffer): string[] {
  const a = unpack(older);
  const b = unpack(todays);
  const out: string[] = [];
  const names = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const name of names) {
    let x = a.get(name);
    let y = b.get(name);
    if (!x || !y) {
      out.push(`${name} is only in ${x ? 'the older' : "today's"} export`);
      continue;
    }
    if (name === 'contact.json') {
      const exportedAt = /"exportedAt": "[^"]*"/;
      const olderValue = exportedAt.exec(x.toString('utf8'))?.[0] ?? '';
      y = Buffer.from(y.toString('utf8').replace(exportedAt, olderValue));
      x = Buffer.from(withDeclaredFormatChanges(x.toString('utf8')));
    }
    if (!x.equals(y)) {
      let i = 0;
      while (i < x.length && x[i] === y[i]) i++;
      const around = (buf: Buffer) =>
        JSON.stringify(buf.subarray(Math.max(0, i - 20), i + 20).toString('utf8'));
      out.push(`${name} differs at byte ${i}: older ${around(x)}, today ${around(y)}`);
    }
  }
  return out;
}
