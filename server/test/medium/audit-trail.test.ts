// The audit trail as a compliance officer relies on it: every privileged action leaves exactly
// one record; no record, no action; the app role cannot change it; tampering is caught and named.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createPublicKey } from 'node:crypto';
import pg from 'pg';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { generateSigningKeyPair } from '../../src/platform/audit-signing.ts';
import { parseExport } from '../../src/modules/audit/audit-file.ts';
import { verifyExport } from '../../src/modules/audit/audit-verify.ts';
import { createTestApp, signIn, type TestApp } from '../support/app.ts';
import { withAdminClient } from '../support/postgres.ts';

const keys = generateSigningKeyPair();
const publicKey = createPublicKey(keys.publicKeyPem);
const t = await createTestApp({ PARLEY_AUDIT_SIGNING_KEY: keys.privateKeyPem });
/** The same Parley without a signing key. */
const unsigned = await createTestApp();
const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');

async function maxSeq(app: TestApp = t): Promise<number> {
  const r = await app.container.db
    .selectFrom('audit_log')
    .select((eb) => eb.fn.max('seq').as('m'))
    .executeTakeFirst();
  return Number(r?.m ?? 0);
}

async function newRecords(since: number) {
  return t.container.db.selectFrom('audit_log').selectAll().where('seq', '>', since).orderBy('seq').execute();
}

function inject(method: string, url: string, cookie: string, payload?: unknown) {
  return t.app.inject({
    method: method as 'GET',
    url,
    headers: { cookie, 'user-agent': 'audit-test/1.0', origin: 'http://localhost:8080' },
    remoteAddress: '10.20.30.40',
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
}

describe('every privileged action writes exactly one audit record', () => {
  it('user, role, password and team changes', async () => {
    const admin = await signIn(t, 'admin');
    const check = async (
      res: { statusCode: number; body: string },
      status: number,
      action: string,
      targetType: string,
      targetId: (body: Record<string, unknown>) => string,
      since: number,
    ) => {
      expect(res.statusCode, res.body).toBe(status);
      const recs = await newRecords(since);
      expect(recs.map((r) => r.action)).toEqual([action]);
      const rec = recs[0]!;
      expect(rec.actor_id).toBe(admin.userId);
      expect(rec.actor_name).toBe(admin.username);
      expect(rec.actor_ip).toBe('10.20.30.40');
      expect(rec.actor_user_agent).toBe('audit-test/1.0');
      expect(rec.outcome).toBe('success');
      expect(rec.target_type).toBe(targetType);
      expect(rec.target_id).toBe(targetId(res.body ? (JSON.parse(res.body) as Record<string, unknown>) : {}));
      return rec;
    };

    let since = await maxSeq();
    const created = await inject('POST', '/api/v1/users', admin.cookie, {
      username: `newbie-${process.pid}`,
      displayName: 'Newbie',
      role: 'agent',
    });
    const userId = created.json<{ user: { id: string } }>().user.id;
    const rec = await check(created, 201, 'user.create', 'user', () => userId, since);
    expect(JSON.stringify(rec.details)).not.toContain(
      created.json<{ oneTimePassword: string }>().oneTimePassword,
    );

    since = await maxSeq();
    await check(
      await inject('PATCH', `/api/v1/users/${userId}`, admin.cookie, { role: 'supervisor' }),
      200,
      'user.role_change',
      'user',
      () => userId,
      since,
    );
    since = await maxSeq();
    await check(
      await inject('PATCH', `/api/v1/users/${userId}`, admin.cookie, { displayName: 'Renamed' }),
      200,
      'user.update',
      'user',
      () => userId,
      since,
    );
    since = await maxSeq();
    await check(
      await inject('POST', `/api/v1/users/${userId}/reset-password`, admin.cookie),
      200,
      'user.password_reset',
      'user',
      () => userId,
      since,
    );
    since = await maxSeq();
    const team = await inject('POST', '/api/v1/teams', admin.cookie, { name: '售后服务组' });
    const teamId = team.json<{ id: string }>().id;
    const teamRec = await check(team, 201, 'team.create', 'team', () => teamId, since);
    expect((teamRec.details as { name: string }).name).toBe('售后服务组');
    since = await maxSeq();
    await check(
      await inject('PATCH', `/api/v1/teams/${teamId}`, admin.cookie, { name: '售后二组' }),
      200,
      'team.update',
      'team',
      () => teamId,
      since,
    );
    since = await maxSeq();
    await check(
      await inject('PUT', `/api/v1/teams/${teamId}/members/${userId}`, admin.cookie),
      200,
      'team.member_add',
      'team',
      () => teamId,
      since,
    );
    since = await maxSeq();
    await check(
      await inject('DELETE', `/api/v1/teams/${teamId}/members/${userId}`, admin.cookie),
      200,
      'team.member_remove',
      'team',
      () => teamId,
      since,
    );
    since = await maxSeq();
    await check(
      await inject('DELETE', `/api/v1/teams/${teamId}`, admin.cookie),
      204,
      'team.delete',
      'team',
      () => teamId,
      since,
    );
  });

  it('sign-in success and failure, password change and logout', async () => {
    const u = await signIn(t, 'agent');
    let since = await maxSeq();
    const ok = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: u.username, password: u.password },
      headers: { 'user-agent': 'ua-login' },
      remoteAddress: '10.1.2.3',
    });
    expect(ok.statusCode).toBe(200);
    let recs = await newRecords(since);
    expect(
      recs.map((r) => [r.action, r.outcome, r.actor_id, r.actor_ip, r.actor_user_agent, r.target_type]),
    ).toEqual([['auth.login', 'success', u.userId, '10.1.2.3', 'ua-login', 'session']]);
    const cookie = String(ok.headers['set-cookie']).split(';')[0]!;

    since = await maxSeq();
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { username: u.username, password: 'wrong-password!' },
          remoteAddress: '10.1.2.4',
        })
      ).statusCode,
    ).toBe(401);
    recs = await newRecords(since);
    expect(recs.map((r) => [r.action, r.outcome, r.target_id, r.actor_ip])).toEqual([
      ['auth.login', 'failure', u.userId, '10.1.2.4'],
    ]);
    expect(JSON.stringify(recs)).not.toContain('wrong-password!');

    since = await maxSeq();
    const changed = await inject('POST', '/api/v1/auth/password', cookie, {
      currentPassword: u.password,
      newPassword: 'another-long-password-1',
    });
    expect(changed.statusCode).toBe(204);
    recs = await newRecords(since);
    expect(recs.map((r) => [r.action, r.target_id])).toEqual([['user.password_change', u.userId]]);
    expect(JSON.stringify(recs)).not.toContain('another-long-password-1');

    since = await maxSeq();
    expect((await inject('POST', '/api/v1/auth/logout', cookie)).statusCode).toBe(204);
    recs = await newRecords(since);
    expect(recs.map((r) => [r.action, r.actor_id, r.target_type])).toEqual([
      ['auth.logout', u.userId, 'session'],
    ]);
  });

  it('if the audit record cannot be written, the action does not happen', async () => {
    const admin = await signIn(t, 'admin');
    const before = await maxSeq();
    // A real failure of the audit insert (as a full disk or a broken constraint would cause).
    await withAdminClient(t.database.url, (c) =>
      c.query(`
        create function fail_audit() returns trigger language plpgsql as $$
        begin raise exception 'audit storage unavailable'; end $$;
        create trigger fail_audit before insert on audit_log for each row execute function fail_audit();`),
    );
    try {
      const res = await inject('POST', '/api/v1/users', admin.cookie, {
        username: `unaudited-${process.pid}`,
        displayName: 'Should not exist',
        role: 'agent',
      });
      expect(res.statusCode).toBe(500);
      const team = await inject('POST', '/api/v1/teams', admin.cookie, { name: 'Unaudited team' });
      expect(team.statusCode).toBe(500);
      const logout = await inject('POST', '/api/v1/auth/logout', admin.cookie);
      expect(logout.statusCode).toBe(500);
    } finally {
      await withAdminClient(t.database.url, (c) =>
        c.query('drop trigger fail_audit on audit_log; drop function fail_audit();'),
      );
    }
    const users = await t.container.db
      .selectFrom('users')
      .select('id')
      .where('username', '=', `unaudited-${process.pid}`)
      .execute();
    expect(users).toHaveLength(0);
    const teams = await t.container.db
      .selectFrom('teams')
      .select('id')
      .where('name', '=', 'Unaudited team')
      .execute();
    expect(teams).toHaveLength(0);
    // the session was not revoked either: the unaudited logout did not happen
    expect((await inject('GET', '/api/v1/auth/me', admin.cookie)).statusCode).toBe(200);
    expect(await maxSeq()).toBe(before);
  });
});

describe('append-only storage', () => {
  it('refuses UPDATE, DELETE and TRUNCATE even from the owner (trigger)', async () => {
    await signIn(t, 'agent');
    for (const stmt of [
      'update audit_log set action = $$x$$ where seq = 1',
      'delete from audit_log where seq = 1',
      'truncate audit_log',
      'truncate audit_checkpoints',
    ]) {
      await expect(withAdminClient(t.database.url, (c) => c.query(stmt))).rejects.toThrow(/append-only/);
    }
  });

  it('an application role that is not the owner has no UPDATE/DELETE/TRUNCATE privilege at all', async () => {
    const role = `parley_app_t${process.pid}`;
    const password = 'app-role-password';
    await withAdminClient(t.database.adminUrl, async (c) => {
      await c.query(`drop role if exists ${role}`);
      await c.query(`create role ${role} login password '${password}' nosuperuser`);
    });
    try {
      await withAdminClient(t.database.url, (c) => c.query(`select parley_grant_app_role('${role}')`));
      const url = new URL(t.database.url);
      url.username = role;
      url.password = password;
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        // Disable the trigger first so only the privilege can refuse: the app role may not even do that.
        await expect(client.query('alter table audit_log disable trigger user')).rejects.toThrow(
          /must be owner/,
        );
        for (const stmt of [
          'update audit_log set action = $$x$$',
          'delete from audit_log',
          'truncate audit_log',
          'update audit_checkpoints set seq = 0',
          "select audit_prune(1, '\\x00'::bytea, 180, 'x', 'y')",
        ]) {
          const err = await client.query(stmt).then(
            () => null,
            (e: Error & { code?: string }) => e,
          );
          expect(err, stmt).not.toBeNull();
          if (!stmt.startsWith('select')) expect(err!.code, stmt).toBe('42501');
        }
        // …while the app still works: it can read and append.
        const n = await client.query('select count(*)::int as n from audit_log');
        expect(n.rows[0].n).toBeGreaterThan(0);
        await client.query('insert into login_throttle (key) values ($1)', [`probe-${role}`]);
      } finally {
        await client.end();
      }
    } finally {
      await withAdminClient(t.database.adminUrl, async (c) => {
        await c.query(`drop owned by ${role} cascade`).catch(() => undefined);
      });
      await withAdminClient(t.database.url, async (c) => {
        await c.query(`drop owned by ${role} cascade`);
      });
      await withAdminClient(t.database.adminUrl, (c) => c.query(`drop role ${role}`));
    }
  });
});

async function tampered(
  mutate: string,
): Promise<Awaited<ReturnType<typeof t.container.audit.verifyDatabase>>> {
  class Rollback extends Error {}
  let report!: Awaited<ReturnType<typeof t.container.audit.verifyDatabase>>;
  await t.container.db
    .transaction()
    .execute(async (trx) => {
      await sql.raw('alter table audit_log disable trigger user').execute(trx);
      await sql.raw(mutate).execute(trx);
      report = await t.container.audit.verifyDatabase(publicKey, trx);
      // In small chunks (as on a long trail) the verdict is the same.
      const chunked = await t.container.audit.verifyDatabase(publicKey, trx, 4);
      expect(chunked.problems[0]).toEqual(report.problems[0]);
      expect(chunked.records).toBe(report.records);
      throw new Rollback();
    })
    .catch((e: unknown) => {
      if (!(e instanceof Rollback)) throw e;
    });
  return report;
}

describe('tamper evidence', () => {
  it('signs checkpoints and verifies the untouched chain', async () => {
    for (let i = 0; i < 3; i++) await signIn(t, 'agent');
    const cp = await t.container.audit.checkpoint();
    expect(cp.signed).toBe(true);
    expect((await t.container.audit.checkpoint()).signed).toBe(false); // nothing new
    await signIn(t, 'agent');
    const report = await t.container.audit.verifyDatabase(publicKey);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checkpointsVerified).toBeGreaterThan(0);
    expect(report.signedUpTo).toBe((cp as { seq: number }).seq);
  });

  it('the scheduled checkpoint job signs the head, and says so when there is no key', async () => {
    await signIn(t, 'agent');
    expect(await t.container.scheduler.runNow('audit-checkpoint')).toBe(true);
    const [run] = await t.container.scheduler.lastRuns('audit-checkpoint', 1);
    expect(run).toMatchObject({ outcome: 'success', detail: { signed: true, seq: await maxSeq() } });
    await unsigned.container.scheduler.runNow('audit-checkpoint');
    const [skipped] = await unsigned.container.scheduler.lastRuns('audit-checkpoint', 1);
    expect(skipped!.detail).toEqual({ signed: false, reason: 'PARLEY_AUDIT_SIGNING_KEY is not set' });
  });

  it('names an edited record', async () => {
    const r = await tampered(`update audit_log set details = '{"reason":"nothing to see"}' where seq = 5`);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ kind: 'edited', seq: 5 });
  });

  it('names a deleted record, with or without renumbering the rest', async () => {
    const gap = await tampered('delete from audit_log where seq = 6');
    expect(gap.problems[0]).toMatchObject({ kind: 'deleted', seq: 6 });
    const renumbered = await tampered(
      'delete from audit_log where seq = 6; update audit_log set seq = seq - 1 where seq > 6',
    );
    expect(renumbered.problems[0]).toMatchObject({ kind: 'deleted', seq: 6 });
  });

  it('names an inserted record even when the forger computed its hash correctly', async () => {
    const head = await maxSeq();
    // Shift the later records up and forge seq 7 chained properly to seq 6.
    const six = await t.container.db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '=', 6)
      .executeTakeFirstOrThrow();
    const { hashAuditRecord } = await import('../../src/platform/audit.ts');
    const body = {
      seq: 7,
      occurredAt: new Date().toISOString(),
      actorId: null,
      actorName: 'mallory',
      actorIp: null,
      actorUserAgent: null,
      action: 'user.create',
      targetType: null,
      targetId: null,
      outcome: 'success' as const,
      details: {},
      hashAlg: 'sha256' as const,
    };
    const forged = hashAuditRecord(six.hash, body).toString('hex');
    const r = await tampered(`
      update audit_log set seq = seq + 1000000 where seq >= 7;
      update audit_log set seq = seq - 1000000 + 1 where seq >= 1000000;
      insert into audit_log (seq, occurred_at, actor_name, action, outcome, details, hash_alg, prev_hash, hash)
        values (7, '${body.occurredAt}', 'mallory', 'user.create', 'success', '{}', 'sha256',
                '\\x${six.hash.toString('hex')}', '\\x${forged}')`);
    expect(head).toBeGreaterThan(8);
    expect(r.problems[0]).toMatchObject({ kind: 'inserted', seq: 7 });
  });

  it('notices records cut off after the last signed checkpoint', async () => {
    await t.container.audit.checkpoint();
    const last = await maxSeq();
    const r = await tampered(`delete from audit_log where seq >= ${last - 1}`);
    expect(r.problems[0]).toMatchObject({ kind: 'deleted', seq: last - 1 });
  });

  it('names swapped records', async () => {
    const r = await tampered(
      'update audit_log set seq = -3 where seq = 3; update audit_log set seq = 3 where seq = 4; update audit_log set seq = 4 where seq = -3',
    );
    expect(r.problems[0]).toMatchObject({ kind: 'reordered', seq: 3 });
  });

  it('catches a rewritten chain (every hash recomputed) through the signed checkpoint', async () => {
    // Re-hash from seq 2 onwards after an edit: every record is self-consistent and linked.
    const rows = await t.container.db.selectFrom('audit_log').selectAll().orderBy('seq').execute();
    const { hashAuditRecord } = await import('../../src/platform/audit.ts');
    const { toExported } = await import('../../src/modules/audit/audit.service.ts');
    let prev = rows[0]!.hash;
    const updates: string[] = [];
    for (const row of rows.slice(1)) {
      const rec = toExported(row);
      if (rec.seq === 2) rec.details = { forged: true };
      const body = { ...rec } as Record<string, unknown>;
      delete body.prevHash;
      delete body.hash;
      const h = hashAuditRecord(prev, body as never);
      updates.push(
        `update audit_log set details = '${JSON.stringify(rec.details)}', prev_hash = '\\x${prev.toString('hex')}', hash = '\\x${h.toString('hex')}' where seq = ${rec.seq};`,
      );
      prev = h;
    }
    const r = await tampered(updates.join('\n'));
    expect(r.ok).toBe(false);
    expect(r.problems[0]!.kind).toBe('checkpoint');
  });
});

describe('export for the auditor', () => {
  it('exports CSV (BOM, Chinese intact) and JSONL through the API, audited, and both verify offline', async () => {
    const admin = await signIn(t, 'admin');
    await inject('POST', '/api/v1/teams', admin.cookie, { name: '投诉处理, "VIP"' });
    await t.container.audit.checkpoint();
    const auditor = await signIn(t, 'auditor');
    const before = await maxSeq();

    const csv = await inject('GET', '/api/v1/audit/export?format=csv', auditor.cookie);
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    expect(csv.rawPayload.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]))).toBe(true);
    expect(csv.body).toContain('投诉处理');
    const exportRecords = await newRecords(before);
    expect(exportRecords.map((r) => [r.action, r.actor_id])).toEqual([['audit.export', auditor.userId]]);

    const csvReport = verifyExport(parseExport(csv.body, 'x.csv'), publicKey);
    expect(csvReport.problems).toEqual([]);
    expect(csvReport.ok).toBe(true);
    expect(csvReport.signatures).toBe('trusted');
    expect(csvReport.checkpointsVerified).toBeGreaterThan(0);

    const jsonl = await inject('GET', '/api/v1/audit/export?format=jsonl', auditor.cookie);
    expect(jsonl.statusCode).toBe(200);
    expect(verifyExport(parseExport(jsonl.body, 'x.jsonl'), publicKey).ok).toBe(true);

    // An export filtered by actor is not a contiguous run, and still verifies.
    const filtered = await inject(
      'GET',
      `/api/v1/audit/export?format=jsonl&actor=${admin.userId}`,
      auditor.cookie,
    );
    const parsed = parseExport(filtered.body, 'f.jsonl');
    expect(parsed.manifest!.contiguous).toBe(false);
    expect(parsed.records.length).toBeGreaterThan(0);
    expect(parsed.records.every((r) => r.actorId === admin.userId)).toBe(true);
    expect(verifyExport(parsed, publicKey).ok).toBe(true);

    // Other roles may not export.
    const agent = await signIn(t, 'agent');
    expect((await inject('GET', '/api/v1/audit/export?format=csv', agent.cookie)).statusCode).toBe(403);
    expect((await inject('GET', '/api/v1/audit/export?format=xml', auditor.cookie)).statusCode).toBe(400);
  });

  it('a one-byte change anywhere in an exported file fails verification', async () => {
    const auditor = await signIn(t, 'auditor');
    for (const format of ['csv', 'jsonl'] as const) {
      const body = (await inject('GET', `/api/v1/audit/export?format=${format}`, auditor.cookie)).body;
      const file = `x.${format}`;
      expect(verifyExport(parseExport(body, file), publicKey).ok).toBe(true);
      // A byte in a record (the actor name of the first login) and a byte in the manifest.
      const recordAt = body.indexOf('auth.login');
      const edited = body.slice(0, recordAt) + 'b' + body.slice(recordAt + 1);
      const r1 = verifyExport(parseExport(edited, file), publicKey);
      expect(r1.ok, format).toBe(false);
      expect(r1.problems[0]!.kind).toBe('edited');
      const sigAt = body.indexOf('"exportedAt":') + 20;
      const edited2 = body.slice(0, sigAt) + (body[sigAt] === '1' ? '2' : '1') + body.slice(sigAt + 1);
      const r2 = verifyExport(parseExport(edited2, file), publicKey);
      expect(r2.ok, format).toBe(false);
      // Without a trusted key, a forger could re-sign with their own key: the check says so.
      const other = createPublicKey(generateSigningKeyPair().publicKeyPem);
      expect(verifyExport(parseExport(body, file), other).ok).toBe(false);
    }
  });

  it('`parley audit export` and `parley audit verify FILE|--db` work from the command line', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'parley-audit-'));
    const env = {
      ...process.env,
      DATABASE_URL: t.database.url,
      PARLEY_AUDIT_SIGNING_KEY: keys.privateKeyPem,
      PARLEY_ENV_FILE: path.join(dir, 'none.env'),
    };
    const pub = path.join(dir, 'audit.pub');
    await writeFile(pub, keys.publicKeyPem);
    const cli = (args: string[]) =>
      run(process.execPath, ['server/src/cli/main.ts', ...args], { cwd: ROOT, env }).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
      );
    const out = path.join(dir, 'audit.csv');
    expect((await cli(['audit', 'export', '--format', 'csv', '--out', out])).code).toBe(0);
    const ok = await cli(['audit', 'verify', out, '--public-key', pub]);
    expect(ok.out).toContain('OK: the audit chain is intact.');
    expect(ok.code).toBe(0);
    const text = await readFile(out, 'utf8');
    const at = text.indexOf('auth.login');
    await writeFile(out, text.slice(0, at) + 'X' + text.slice(at + 1));
    const bad = await cli(['audit', 'verify', out, '--public-key', pub]);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/TAMPERED: seq \d+ was edited/);
    const db = await cli(['audit', 'verify', '--db', '--public-key', pub]);
    expect(db.out).toContain('OK: the audit chain is intact.');
  });
});
