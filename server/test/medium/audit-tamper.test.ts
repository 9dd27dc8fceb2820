// Issue 21: the audit trail against a database superuser. Every case tampers through a superuser
// connection of its own (raw SQL, triggers switched off — what a DBA can do behind the app's
// back) and checks that verification — `verify --db --anchors` and, where the export holds the
// evidence, the offline file check — detects it and names the first affected seq.
import { execFile } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql, type Transaction } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { hashAuditRecord } from '../../src/platform/audit.ts';
import { generateSigningKeyPair } from '../../src/platform/audit-signing.ts';
import { openDatabase, type DB } from '../../src/platform/db/database.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { parseExport } from '../../src/modules/audit/audit-file.ts';
import { verifyExport, type VerifyReport } from '../../src/modules/audit/audit-verify.ts';
import { toExported } from '../../src/modules/audit/audit.service.ts';
import { sendSyslog } from '../../src/modules/audit/audit-anchors.ts';
import type { DbVerifyOptions } from '../../src/modules/audit/audit-verify-db.ts';
import { createTestApp, signIn, type TestApp } from '../support/app.ts';

const keys = generateSigningKeyPair();
const publicKey = createPublicKey(keys.publicKeyPem);
const macKeys = `m1:${randomBytes(32).toString('base64')}`;
const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');

// A local syslog receiver (TCP, octet-counted frames) and a local HTTP witness.
const syslogFrames: string[] = [];
const syslog = net.createServer((socket) => {
  let buf = '';
  socket.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    for (;;) {
      const m = /^(\d+) /.exec(buf);
      if (!m) break;
      const len = Number(m[1]);
      const start = m[0].length;
      if (Buffer.byteLength(buf.slice(start)) < len) break;
      const body = Buffer.from(buf.slice(start)).subarray(0, len).toString('utf8');
      syslogFrames.push(body);
      buf = Buffer.from(buf.slice(start)).subarray(len).toString('utf8');
    }
  });
});
const witnessed: Record<string, unknown>[] = [];
const witness = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d: Buffer) => (body += d.toString('utf8')));
  req.on('end', () => {
    witnessed.push(JSON.parse(body) as Record<string, unknown>);
    res.writeHead(204).end();
  });
});
await new Promise<void>((r) => syslog.listen(0, '127.0.0.1', r));
await new Promise<void>((r) => witness.listen(0, '127.0.0.1', r));
afterAll(() => {
  syslog.close();
  witness.close();
});
const port = (s: net.Server | http.Server | tls.Server) => (s.address() as net.AddressInfo).port;

async function appWithAnchors(): Promise<TestApp & { anchors: string }> {
  const anchors = await mkdtemp(path.join(tmpdir(), 'parley-anchors-'));
  const t = await createTestApp({
    PARLEY_AUDIT_SIGNING_KEY: keys.privateKeyPem,
    PARLEY_AUDIT_MAC_KEYS: macKeys,
    AUDIT_ANCHOR_DIR: anchors,
    AUDIT_SYSLOG_URL: `tcp://127.0.0.1:${port(syslog)}`,
    AUDIT_WITNESS_URL: `http://127.0.0.1:${port(witness)}/anchors`,
    PARLEY_METRICS_TOKEN: 'scrape-me',
  });
  return { ...t, anchors };
}

const t = await appWithAnchors();
/** A superuser connection of its own: not the app's pool, not the app's code. */
const su = openDatabase(t.database.url, { max: 2, connectTimeoutMs: 5000, logger: createLogger('silent') });
afterAll(() => su.close());

async function maxSeq(app: TestApp = t): Promise<number> {
  const r = await app.container.db
    .selectFrom('audit_log')
    .select((eb) => eb.fn.max('seq').as('m'))
    .executeTakeFirst();
  return Number(r?.m ?? 0);
}

/** Some records, a checkpoint (anchored), more records, another checkpoint, a few records. */
async function history(app: TestApp) {
  for (let i = 0; i < 4; i++) await signIn(app, 'agent');
  expect(await app.container.audit.checkpoint()).toMatchObject({ signed: true, anchored: true });
  for (let i = 0; i < 3; i++) await signIn(app, 'agent');
  expect(await app.container.audit.checkpoint()).toMatchObject({ signed: true, anchored: true });
  await signIn(app, 'agent');
}
await history(t);

/**
 * Runs `mutate` as the superuser (triggers off) in a transaction, verifies inside it with
 * `--anchors`, then rolls back so every case starts from the same history.
 */
async function tampered(
  mutate: string | ((trx: Transaction<DB>) => Promise<void>),
  opts: DbVerifyOptions & { verifier?: TestApp } = {},
): Promise<VerifyReport> {
  class Rollback extends Error {}
  let report!: VerifyReport;
  await su.db
    .transaction()
    .execute(async (trx) => {
      await sql.raw('alter table audit_log disable trigger user').execute(trx);
      await sql.raw('alter table audit_checkpoints disable trigger user').execute(trx);
      await sql.raw('alter table audit_archives disable trigger user').execute(trx);
      if (typeof mutate === 'string') await sql.raw(mutate).execute(trx);
      else await mutate(trx);
      const { verifier = t, ...rest } = opts;
      report = await verifier.container.audit.verifyDatabase(publicKey, trx, 20_000, {
        anchorsDir: t.anchors,
        ...rest,
      });
      const chunked = await verifier.container.audit.verifyDatabase(publicKey, trx, 3, {
        anchorsDir: t.anchors,
        ...rest,
      });
      expect(chunked.problems[0]).toEqual(report.problems[0]);
      throw new Rollback();
    })
    .catch((e: unknown) => {
      if (!(e instanceof Rollback)) throw e;
    });
  return report;
}

/** Re-hashes every record from `from` on (after changing `from`'s details): a self-consistent chain. */
async function rewriteFrom(trx: Transaction<DB>, from: number) {
  const rows = await trx.selectFrom('audit_log').selectAll().orderBy('seq').execute();
  let prev = rows.find((r) => r.seq === from - 1)!.hash;
  for (const row of rows.filter((r) => r.seq >= from)) {
    const rec = toExported(row);
    if (rec.seq === from) rec.details = { forged: true };
    const { prevHash: _p, hash: _h, ...body } = rec;
    const h = hashAuditRecord(prev, body);
    await trx
      .updateTable('audit_log')
      .set({ details: JSON.stringify(rec.details), prev_hash: prev, hash: h })
      .where('seq', '=', rec.seq)
      .execute();
    prev = h;
  }
}

/** Inserts a forged record after `last`, its hash computed correctly over every field. */
async function insertForged(
  db: Pick<Transaction<DB>, 'insertInto'>,
  last: Parameters<typeof toExported>[0],
  mac: string | null = null,
) {
  const {
    prevHash: _p,
    hash: _h,
    ...body
  } = {
    ...toExported(last),
    seq: last.seq + 1,
    actorName: 'mallory',
    action: 'user.role_change',
    details: { role: 'admin' },
  };
  await db
    .insertInto('audit_log')
    .values({
      seq: body.seq,
      occurred_at: body.occurredAt,
      actor_id: body.actorId,
      actor_name: body.actorName,
      actor_ip: body.actorIp,
      actor_user_agent: body.actorUserAgent,
      action: body.action,
      target_type: body.targetType,
      target_id: body.targetId,
      outcome: body.outcome,
      details: JSON.stringify(body.details),
      hash_alg: 'sha256',
      prev_hash: last.hash,
      hash: hashAuditRecord(last.hash, body),
      mac,
    })
    .execute();
}

async function lastCheckpointSeq(): Promise<number> {
  const r = await t.container.db
    .selectFrom('audit_checkpoints')
    .select((eb) => eb.fn.max('seq').as('m'))
    .executeTakeFirst();
  return Number(r?.m ?? 0);
}

describe('the untouched trail', () => {
  it('verifies with MACs, checkpoints and the external anchor log, and was forwarded to syslog and the witness', async () => {
    const report = await t.container.audit.verifyDatabase(publicKey, undefined, undefined, {
      anchorsDir: t.anchors,
      freshness: { now: new Date(), intervalMs: 600_000 },
    });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.warnings.join('\n')).not.toMatch(/MACs were not checked|no external anchor/);
    const files = await readdir(t.anchors);
    expect(files).toEqual([`anchors-${new Date().toISOString().slice(0, 10)}.log`]);
    const lines = (await readFile(path.join(t.anchors, files[0]!), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2);
    // RFC 5424 over TCP with octet counting; the witness got the same anchor.
    await expect.poll(() => syslogFrames.length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    expect(syslogFrames[0]).toMatch(
      /^<109>1 \S+ \S+ parley \d+ audit-anchor \[parley@32473 seq="\d+" hash="[0-9a-f]{64}"/,
    );
    expect(witnessed.map((w) => w.seq)).toEqual(lines.map((l) => (JSON.parse(l) as { seq: number }).seq));
  });

  it('every record carries a MAC naming its algorithm and key id', async () => {
    const rows = await t.container.db.selectFrom('audit_log').select(['mac']).execute();
    for (const r of rows) expect(r.mac).toMatch(/^hmac-sha256:m1:[A-Za-z0-9+/=]{44}$/);
  });
});

describe('checkpoint and anchor age: doctor, /metrics, the API', () => {
  it('reports ages and ok, then an alert when records stay unsigned past two intervals', async () => {
    await t.container.audit.checkpoint();
    const h = await t.container.audit.health();
    expect(h).toMatchObject({ state: 'ok', reasons: [], anchorConfigured: true, macConfigured: true });
    expect(h.checkpoint!.seq).toBe(h.anchor!.seq);
    expect(h.checkpoint!.ageSeconds).toBeLessThan(60);

    const auditor = await signIn(t, 'auditor'); // a new, unsigned record
    const api = await t.app.inject({
      method: 'GET',
      url: '/api/v1/audit/health',
      headers: { cookie: auditor.cookie },
    });
    expect(api.statusCode).toBe(200);
    expect(api.json()).toMatchObject({ state: 'ok', intervalSeconds: 600 });
    const later = await t.container.audit.health(new Date(Date.now() + 21 * 60_000));
    expect(later.state).toBe('alert');
    expect(later.reasons.join('\n')).toMatch(
      /not covered by a signed checkpoint after two checkpoint intervals/,
    );

    const metrics = await t.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: 'Bearer scrape-me' },
    });
    expect(metrics.body).toMatch(/^parley_audit_checkpoint_age_seconds \d+/m);
    expect(metrics.body).toMatch(/^parley_audit_anchor_age_seconds \d+/m);
    expect(metrics.body).toMatch(/^parley_audit_alert 0$/m);
  });

  it('without an anchor directory or MAC key the state is a warning that says what is missing', async () => {
    const bare = await createTestApp(
      { PARLEY_AUDIT_SIGNING_KEY: keys.privateKeyPem },
      { database: t.database },
    );
    const h = await bare.container.audit.health();
    expect(h.state).toBe('warn');
    expect(h.reasons.join('\n')).toMatch(
      /PARLEY_AUDIT_MAC_KEYS is not set[\s\S]*AUDIT_ANCHOR_DIR is not set/,
    );
  });
});

describe('tampering by a database superuser is detected and the first affected seq named', () => {
  it('edit', async () => {
    const r = await tampered(`update audit_log set details = '{"x":1}' where seq = 3`);
    expect(r.problems[0]).toMatchObject({ kind: 'edited', seq: 3 });
  });

  it('delete', async () => {
    const r = await tampered('delete from audit_log where seq = 4');
    expect(r.problems[0]).toMatchObject({ kind: 'deleted', seq: 4 });
  });

  it('insert (later records renumbered, hash chained correctly)', async () => {
    const r = await tampered(async (trx) => {
      const five = await trx
        .selectFrom('audit_log')
        .selectAll()
        .where('seq', '=', 5)
        .executeTakeFirstOrThrow();
      await sql.raw('update audit_log set seq = seq + 1000000 where seq >= 6').execute(trx);
      await sql.raw('update audit_log set seq = seq - 1000000 + 1 where seq >= 1000000').execute(trx);
      await insertForged(trx, five);
    });
    expect(r.problems[0]).toMatchObject({ seq: 6 });
    expect(r.problems[0]!.kind).toMatch(/inserted|mac/);
  });

  it('swap', async () => {
    const r = await tampered(
      'update audit_log set seq = -3 where seq = 2; update audit_log set seq = 2 where seq = 3; update audit_log set seq = 3 where seq = -3',
    );
    expect(r.problems[0]).toMatchObject({ kind: 'reordered', seq: 2 });
  });

  it('tail cut after the newest checkpoint', async () => {
    const cp = await lastCheckpointSeq();
    const r = await tampered(`delete from audit_log where seq >= ${cp - 1}`);
    expect(r.problems[0]).toMatchObject({ kind: 'deleted', seq: cp - 1 });
  });

  it('tail cut that also deletes the checkpoint rows: the external anchor log still names it', async () => {
    const cp = await lastCheckpointSeq();
    const r = await tampered(`delete from audit_log where seq >= ${cp - 1}; delete from audit_checkpoints`);
    const cut = r.problems.find((p) => p.kind === 'deleted');
    expect(cut).toMatchObject({ seq: cp - 1 });
    expect(cut!.message).toMatch(/external anchor log has seq \d+ .* records from seq \d+ were deleted/);
    // …and the deleted checkpoint rows, first of all the oldest anchored one.
    const [first] = (await readFile(path.join(t.anchors, (await readdir(t.anchors))[0]!), 'utf8')).split(
      '\n',
    );
    const firstAnchored = (JSON.parse(first!) as { seq: number }).seq;
    expect(r.problems[0]).toMatchObject({ kind: 'checkpoint', seq: firstAnchored });
    expect(r.problems[0]!.message).toMatch(/missing from the database/);
  });

  it('rewrite with recomputed hashes, checkpoints kept: the MAC names the first rewritten record', async () => {
    const r = await tampered((trx) => rewriteFrom(trx, 2));
    expect(r.problems[0]).toMatchObject({ kind: 'mac', seq: 2 });
    expect(r.problems.map((p) => p.kind)).toContain('checkpoint');
  });

  it('rewrite with recomputed hashes and every checkpoint deleted: MAC and anchor log both catch it', async () => {
    const r = await tampered(async (trx) => {
      await rewriteFrom(trx, 2);
      await sql.raw('delete from audit_checkpoints').execute(trx);
    });
    expect(r.problems[0]).toMatchObject({ kind: 'mac', seq: 2 });
    expect(r.problems.some((p) => p.kind === 'anchor' && /were rewritten/.test(p.message))).toBe(true);
  });

  it('rewrite with recomputed hashes, checkpoints deleted and the anchor log gone too: the MAC alone still names the record', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'parley-no-anchors-'));
    const r = await tampered(
      async (trx) => {
        await rewriteFrom(trx, 3);
        await sql.raw('delete from audit_checkpoints').execute(trx);
      },
      { anchorsDir: empty },
    );
    expect(r.problems[0]).toMatchObject({ kind: 'mac', seq: 3 });
  });

  it('the same rewrite, verified without the MAC key (auditor with the public key only): the anchor log names the range', async () => {
    const auditorView = await createTestApp(
      { PARLEY_AUDIT_SIGNING_KEY: keys.privateKeyPem },
      { database: t.database },
    );
    const r = await tampered(
      async (trx) => {
        await rewriteFrom(trx, 2);
        await sql.raw('delete from audit_checkpoints').execute(trx);
      },
      { verifier: auditorView },
    );
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ kind: 'anchor', seq: 1 });
    expect(r.problems[0]!.message).toMatch(/records in seq 1–\d+ were rewritten/);
    expect(r.warnings.join('\n')).toMatch(/record MACs were not checked/);
  });

  it('a forged head record with a correct hash link (no MAC, or a made-up one)', async () => {
    const head = await maxSeq();
    const forge = (mac: string | null) => async (trx: Transaction<DB>) => {
      const last = await trx
        .selectFrom('audit_log')
        .selectAll()
        .where('seq', '=', head)
        .executeTakeFirstOrThrow();
      await insertForged(trx, last, mac);
    };
    const noMac = await tampered(forge(null));
    expect(noMac.problems[0]).toMatchObject({ kind: 'mac', seq: head + 1 });
    const fakeMac = await tampered(forge(`hmac-sha256:m1:${randomBytes(32).toString('base64')}`));
    expect(fakeMac.problems[0]).toMatchObject({ kind: 'mac', seq: head + 1 });
  });

  it('a forged archive anchor row is ignored and reported; the records it claims to cover are not skipped', async () => {
    const head = await maxSeq();
    const r = await tampered(
      `insert into audit_archives (first_seq, last_seq, last_hash, record_count, file_name, file_sha256)
         values (1, ${head - 1}, '\\x00', ${head - 1}, 'forged.jsonl', 'x')`,
    );
    expect(r.problems[0]).toMatchObject({ kind: 'anchor', seq: 1 });
    expect(r.problems[0]!.message).toMatch(/unsigned: ignored/);
    expect(r.records).toBe(head);
  });

  it('a forged checkpoint row (not signed by the key) is reported', async () => {
    const head = await maxSeq();
    const r = await tampered(
      `insert into audit_checkpoints (seq, hash, signed_at, key_fingerprint, signature)
         select seq, hash, now(), '${'ab'.repeat(32)}', '\\x00' from audit_log where seq = ${head}`,
    );
    expect(r.problems[0]).toMatchObject({ kind: 'signature', seq: head });
  });

  it('records past the newest checkpoint for more than two checkpoint intervals are a failure', async () => {
    const cp = await lastCheckpointSeq();
    const later = { now: new Date(Date.now() + 3 * 600_000), intervalMs: 600_000 };
    const r = await tampered('select 1', { freshness: later });
    expect(r.problems[0]).toMatchObject({ kind: 'stale', seq: cp + 1 });
    const none = await tampered('delete from audit_checkpoints', { freshness: later, anchorsDir: undefined });
    expect(none.problems.find((p) => p.kind === 'stale')).toMatchObject({ seq: 1 });
    expect(none.problems.find((p) => p.kind === 'stale')!.message).toMatch(/no valid signed checkpoint/);
  });

  it('the app role cannot insert into audit_archives (two-role set-up)', async () => {
    const role = `parley_app_${process.pid}`;
    await sql.raw(`create role ${role} login`).execute(su.db);
    try {
      await sql.raw(`select parley_grant_app_role('${role}')`).execute(su.db);
      const asApp = openDatabase(t.database.url.replace('://postgres@', `://${role}@`), {
        max: 1,
        connectTimeoutMs: 5000,
        logger: createLogger('silent'),
      });
      try {
        await expect(
          sql
            .raw(
              `insert into audit_archives (first_seq, last_seq, last_hash, record_count, file_name, file_sha256)
                     values (1, 1, '\\x00', 1, 'f', 'x')`,
            )
            .execute(asApp.db),
        ).rejects.toThrow(/permission denied/);
        await expect(sql.raw('select count(*) from audit_archives').execute(asApp.db)).resolves.toBeDefined();
      } finally {
        await asApp.close();
      }
    } finally {
      await sql.raw(`drop owned by ${role} cascade`).execute(su.db);
      await sql.raw(`drop role ${role}`).execute(su.db);
    }
  });
});

describe('committed tampering: exports, --since and the command line', () => {
  it('a tail cut is caught in an export made afterwards, from the file alone; the CLI names the seq; the checkpoint job refuses a forged head', async () => {
    const b = await appWithAnchors();
    await history(b);
    const auditor = await signIn(b, 'auditor');
    const exportJsonl = async () => {
      const res = await b.app.inject({
        method: 'GET',
        url: '/api/v1/audit/export?format=jsonl',
        headers: { cookie: auditor.cookie },
      });
      expect(res.statusCode).toBe(200);
      return res.body;
    };
    const earlier = await exportJsonl(); // the auditor's copy, before the tampering
    await b.container.audit.checkpoint();
    const cp = await maxSeq(b);
    expect(verifyExport(parseExport(earlier, 'e.jsonl'), publicKey).ok).toBe(true);

    // The DBA cuts the tail, up to the record the newest checkpoint signed.
    const suB = openDatabase(b.database.url, {
      max: 1,
      connectTimeoutMs: 5000,
      logger: createLogger('silent'),
    });
    afterAll(() => suB.close());
    await sql
      .raw(
        `alter table audit_log disable trigger user; delete from audit_log where seq >= ${cp - 2}; alter table audit_log enable trigger user`,
      )
      .execute(suB.db);
    // The export made afterwards (its own audit.export record takes seq cp - 2 again).
    const after = await exportJsonl();
    const exportedHead = await maxSeq(b);
    expect(exportedHead).toBe(cp - 2);
    const offline = verifyExport(parseExport(after, 'after.jsonl'), publicKey);
    expect(offline.ok).toBe(false);
    expect(offline.problems[0]).toMatchObject({ kind: 'deleted', seq: exportedHead + 1 });
    expect(offline.problems[0]!.message).toMatch(new RegExp(`checkpoint was signed at seq ${cp}`));

    // The command line: verify --db --anchors DIR --since EARLIER exits 1 naming the first seq.
    const dir = await mkdtemp(path.join(tmpdir(), 'parley-tamper-'));
    const pub = path.join(dir, 'audit.pub');
    await writeFile(pub, keys.publicKeyPem);
    const since = path.join(dir, 'earlier.jsonl');
    await writeFile(since, earlier);
    const env = {
      ...process.env,
      DATABASE_URL: b.database.url,
      PARLEY_AUDIT_SIGNING_KEY: keys.privateKeyPem,
      PARLEY_AUDIT_MAC_KEYS: macKeys,
      PARLEY_ENV_FILE: path.join(dir, 'none.env'),
    };
    const cli = (args: string[]) =>
      run(process.execPath, ['server/src/cli/main.ts', ...args], { cwd: ROOT, env }).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
      );
    const res = await cli([
      'audit',
      'verify',
      '--db',
      '--public-key',
      pub,
      '--anchors',
      b.anchors,
      '--since',
      since,
    ]);
    expect(res.code).toBe(1);
    expect(res.out).toMatch(new RegExp(`TAMPERED: .*seq ${cp - 2}\\b`));

    // A forged head record: the checkpoint job will not sign it.
    const head = await maxSeq(b);
    const last = await b.container.db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '=', head)
      .executeTakeFirstOrThrow();
    await insertForged(suB.db, last);
    const refused = await b.container.audit.checkpoint();
    expect(refused).toMatchObject({ signed: false });
    expect((refused as { reason: string }).reason).toMatch(
      /before the last checkpoint .*records were deleted/,
    );
  });

  it('the checkpoint job refuses to sign a forged head record (correct hash link, no valid MAC)', async () => {
    const c = await appWithAnchors();
    await history(c);
    const head = await maxSeq(c);
    const last = await c.container.db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '=', head)
      .executeTakeFirstOrThrow();
    const suC = openDatabase(c.database.url, {
      max: 1,
      connectTimeoutMs: 5000,
      logger: createLogger('silent'),
    });
    afterAll(() => suC.close());
    await insertForged(suC.db, last);
    expect(await c.container.audit.checkpoint()).toEqual({
      signed: false,
      reason: `seq ${head + 1} fails its MAC or link: not signing (run parley audit verify --db)`,
    });
    const report = await c.container.audit.verifyDatabase(publicKey);
    expect(report.problems[0]).toMatchObject({ kind: 'mac', seq: head + 1 });
  });

  it('--since: a record of the earlier export rewritten later is named', async () => {
    const earlier = parseExport(
      await new Promise<string>((resolve, reject) => {
        let text = '';
        t.container.audit
          .exportForActor({ cli: true }, {}, 'jsonl', async (chunk) => {
            text += chunk;
          })
          .then(() => resolve(text), reject);
      }),
      'earlier.jsonl',
    );
    const r = await tampered((trx) => rewriteFrom(trx, 5), { since: earlier });
    expect(r.problems.find((p) => p.kind === 'since')).toMatchObject({ seq: 5 });
    expect(r.problems[0]!.seq).toBe(5);
  });

  it('an anchor log line removed or altered is reported', async () => {
    const [file] = await readdir(t.anchors);
    const full = path.join(t.anchors, file!);
    const original = await readFile(full, 'utf8');
    const lines = original.trim().split('\n');
    try {
      await writeFile(full, lines.slice(1).join('\n') + '\n');
      const r = await tampered('select 1');
      expect(r.ok).toBe(false);
      expect(r.problems.map((p) => p.message).join('\n')).toMatch(/does not link to the line before it/);
    } finally {
      await writeFile(full, original);
    }
  });
});

describe('syslog over TLS', () => {
  it('sends an anchor to a TLS syslog server that presents a certificate from the given CA, and refuses one that does not', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'parley-syslog-tls-'));
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
    ]);
    const frames: string[] = [];
    const server = tls.createServer({ key: await readFile(key), cert: await readFile(cert) }, (socket) => {
      let buf = '';
      socket.on('data', (d: Buffer) => (buf += d.toString('utf8')));
      socket.on('end', () => frames.push(buf));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `tls://localhost:${port(server)}`;
      const line = {
        v: 1 as const,
        seq: 42,
        hash: 'ab'.repeat(32),
        signedAt: new Date().toISOString(),
        alg: 'ed25519' as const,
        keyFingerprint: 'cd'.repeat(32),
        signature: 'c2lnbmF0dXJl',
        writtenAt: new Date().toISOString(),
        prev: '0'.repeat(64),
      };
      await sendSyslog(url, line, { ca: await readFile(cert, 'utf8') });
      await expect.poll(() => frames.length, { timeout: 5000 }).toBe(1);
      const m = /^(\d+) (.*)$/s.exec(frames[0]!)!;
      expect(Number(m[1])).toBe(Buffer.byteLength(m[2]!));
      expect(m[2]).toMatch(/^<109>1 .* audit-anchor \[parley@32473 seq="42" /);
      // Without the CA the server's certificate is not trusted: nothing is sent.
      await expect(sendSyslog(url, line)).rejects.toThrow(/self.signed|certificate/i);
    } finally {
      server.close();
    }
  });
});

describe('configuration', () => {
  it('loads PARLEY_AUDIT_MAC_KEYS with several key ids (rotation) and refuses a short key', () => {
    const c = loadConfig({ PARLEY_AUDIT_MAC_KEYS: `m2:${randomBytes(32).toString('base64')},${macKeys}` });
    expect(c.auditMacKeys).toContain('m1:');
    expect(() => loadConfig({ PARLEY_AUDIT_MAC_KEYS: 'm1:c2hvcnQ=' })).toThrow(/PARLEY_AUDIT_MAC_KEYS/);
    expect(() => loadConfig({ AUDIT_SYSLOG_URL: 'udp://x:514' })).toThrow(/tcp:\/\/host:port/);
  });

  it('after rotating MAC keys, old records still verify and new ones use the new key', async () => {
    const rotated = await createTestApp(
      {
        PARLEY_AUDIT_SIGNING_KEY: keys.privateKeyPem,
        PARLEY_AUDIT_MAC_KEYS: `m2:${randomBytes(32).toString('base64')},${macKeys}`,
      },
      { database: t.database },
    );
    await signIn(rotated, 'agent');
    const head = await maxSeq();
    const row = await t.container.db
      .selectFrom('audit_log')
      .select(['mac'])
      .where('seq', '=', head)
      .executeTakeFirstOrThrow();
    expect(row.mac).toMatch(/^hmac-sha256:m2:/);
    const report = await rotated.container.audit.verifyDatabase(publicKey, undefined, undefined, {
      anchorsDir: t.anchors,
    });
    expect(report.problems).toEqual([]);
  });
});
