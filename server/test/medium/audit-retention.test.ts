// Retention: records past AUDIT_RETENTION_DAYS are archived to a verified file, then pruned
// through the one controlled path; the chain stays verifiable across the archive boundary.
import { createHash, createPublicKey } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, hashAuditRecord, type AuditRecordBody } from '../../src/platform/audit.ts';
import { generateSigningKeyPair } from '../../src/platform/audit-signing.ts';
import { parseExport } from '../../src/modules/audit/audit-file.ts';
import { verifyExport } from '../../src/modules/audit/audit-verify.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createTestApp, signIn } from '../support/app.ts';
import { withAdminClient } from '../support/postgres.ts';

const keys = generateSigningKeyPair();
const publicKey = createPublicKey(keys.publicKeyPem);
const archiveDir = await mkdtemp(path.join(tmpdir(), 'parley-archive-'));
const t = await createTestApp({
  PARLEY_AUDIT_SIGNING_KEY: keys.privateKeyPem,
  AUDIT_RETENTION_DAYS: '200',
  AUDIT_ARCHIVE_DIR: archiveDir,
});

/** Writes an old, correctly chained history (as if Parley had run for a year) behind the app. */
async function seedOldHistory(count: number) {
  let prev: Buffer = GENESIS_HASH;
  const values: string[] = [];
  for (let seq = 1; seq <= count; seq++) {
    const body: AuditRecordBody = {
      seq,
      occurredAt: new Date(Date.now() - (400.5 - seq) * 86_400_000).toISOString(),
      actorId: null,
      actorName: 'system',
      actorIp: null,
      actorUserAgent: null,
      action: 'user.update',
      targetType: 'user',
      targetId: `u${seq}`,
      outcome: 'success',
      details: { n: seq, 名字: '张三' },
      hashAlg: 'sha256',
    };
    const hash = hashAuditRecord(prev, body);
    values.push(
      `(${seq}, '${body.occurredAt}', 'system', 'user.update', 'user', 'u${seq}', 'success', '${JSON.stringify(body.details)}', 'sha256', '\\x${prev.toString('hex')}', '\\x${hash.toString('hex')}')`,
    );
    prev = hash;
  }
  await withAdminClient(t.database.url, (c) =>
    c.query(`insert into audit_log (seq, occurred_at, actor_name, action, target_type, target_id, outcome, details, hash_alg, prev_hash, hash)
             values ${values.join(',\n')}`),
  );
}

describe('audit retention', () => {
  it('refuses a retention shorter than 180 days at configuration load', () => {
    expect(() => loadConfig({ AUDIT_RETENTION_DAYS: '90' })).toThrow(
      /AUDIT_RETENTION_DAYS: must be at least 180 days/,
    );
    expect(loadConfig({ AUDIT_RETENTION_DAYS: '180' }).auditRetentionDays).toBe(180);
  });

  it('archives old records to a verified file, prunes them, and the chain still verifies', async () => {
    await seedOldHistory(300); // seq 1..300, from 399 days ago to 100 days ago
    await signIn(t, 'agent'); // recent records chain on top
    await t.container.audit.checkpoint();

    // Even the owner cannot simply delete old records: the trigger wants an archive anchor.
    await expect(
      withAdminClient(t.database.url, (c) => c.query('delete from audit_log where seq = 1')),
    ).rejects.toThrow(/append-only/);

    const result = await t.container.audit.archive();
    expect(result.archived).toBe(true);
    if (!result.archived) return;
    // 200 days retention: seq 1..200 are older (occurred 399.5..200.5 days ago)
    expect(result.firstSeq).toBe(1);
    expect(result.lastSeq).toBe(200);
    expect(result.count).toBe(200);

    const remaining = await t.container.db
      .selectFrom('audit_log')
      .select((eb) => eb.fn.min('seq').as('min'))
      .executeTakeFirstOrThrow();
    expect(Number(remaining.min)).toBe(201);

    // The archive verifies offline, names its anchor, and its hash is recorded.
    const text = await readFile(result.file, 'utf8');
    const parsed = parseExport(text, result.file);
    expect(parsed.records).toHaveLength(200);
    expect(parsed.records[0]!.details).toEqual({ n: 1, 名字: '张三' });
    expect(verifyExport(parsed, publicKey).ok).toBe(true);
    const [anchor] = await t.container.audit.listArchives();
    expect(anchor).toMatchObject({ first_seq: 1, last_seq: 200, record_count: 200 });
    expect(anchor!.file_sha256).toBe(createHash('sha256').update(text).digest('hex'));

    // The database chain continues from the anchor and still verifies…
    const report = await t.container.audit.verifyDatabase(publicKey);
    expect(report.problems).toEqual([]);
    expect(report.range.firstSeq).toBe(201);
    // …and the archive run is audited.
    const audited = await t.container.db
      .selectFrom('audit_log')
      .select(['action', 'target_id'])
      .where('action', '=', 'audit.archive')
      .execute();
    expect(audited).toEqual([{ action: 'audit.archive', target_id: '1-200' }]);

    // Deleting the first remaining record behind the app's back is caught at the boundary.
    await withAdminClient(t.database.url, (c) =>
      c.query(
        'begin; alter table audit_log disable trigger user; delete from audit_log where seq = 201; alter table audit_log enable trigger user; commit',
      ),
    );
    const broken = await t.container.audit.verifyDatabase(publicKey);
    expect(broken.problems[0]).toMatchObject({ kind: 'deleted', seq: 201 });
  });

  it('the prune function refuses records younger than retention or a wrong hash', async () => {
    const head = await t.container.db
      .selectFrom('audit_log')
      .select(['seq', 'hash'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
    await expect(
      withAdminClient(t.database.url, (c) =>
        c.query(`select audit_prune($1, $2, 180, 'x', 'y')`, [head.seq, head.hash]),
      ),
    ).rejects.toThrow(/younger than the retention period/);
    await expect(
      withAdminClient(t.database.url, (c) =>
        c.query(`select audit_prune(250, '\\x00'::bytea, 180, 'x', 'y')`),
      ),
    ).rejects.toThrow(/does not have the archived hash/);
  });
});
