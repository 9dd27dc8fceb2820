// `parley search reindex` as a real process: killed with SIGKILL mid-build, then run again, it
// resumes after the last committed batch and completes; `parley doctor` reports the state.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.ts';
import { createTestApp, httpClient, signIn } from '../support/app.ts';
import { PROCESS_TEST_MS, eventually, runParley } from '../support/process.ts';

const MESSAGES = 100_000;

const db = await createTestDatabase();
const client = new pg.Client({ connectionString: db.url });
await client.connect();
afterAll(() => client.end());

describe('parley search reindex', { timeout: PROCESS_TEST_MS }, () => {
  const state = async () =>
    (
      await client.query<{ complete: boolean; cursor: string | null; built: string; entries: string }>(
        `select complete, cursor, built::text, (select count(*) from search_entries)::text as entries from search_state`,
      )
    ).rows[0]!;

  it('resumes after kill -9 where the last batch committed, and completes', async () => {
    // A database that had messages before the index existed: rows loaded without the triggers.
    await client.query(`set session_replication_role = replica`);
    const channel = await client.query<{ id: string }>(
      `insert into channels (name, type, identity_secret) values ('w', 'web_widget', 'x') returning id`,
    );
    await client.query(
      `insert into contacts (id, name) select md5('c' || i)::uuid, null from generate_series(1, 1000) i`,
    );
    await client.query(
      `insert into conversations (id, channel_id, contact_id, status, last_seq, resolved_at)
       select md5('v' || i)::uuid, $1::uuid, md5('c' || i)::uuid, 'resolved', 100, now() - i * interval '1 minute'
       from generate_series(1, 1000) i`,
      [channel.rows[0]!.id],
    );
    await client.query(
      `insert into messages (conversation_id, seq, sender_type, kind, body)
       select md5('v' || (1 + (n - 1) / 100))::uuid, 1 + (n - 1) % 100, 'visitor', 'text', '第' || n || '条 订单' || (1000000 + n)
       from generate_series(1, ${MESSAGES}) n`,
    );
    await client.query(`set session_replication_role = origin`);
    await client.query(`update search_state set complete = false, cursor = null, built = 0`);

    const before = runParley(['doctor'], { DATABASE_URL: db.url });
    await before.exited();
    expect(before.output()).toMatch(/^WARN\s+search index.*being built/m);

    const first = runParley(['search', 'reindex', '--batch', '500'], { DATABASE_URL: db.url });
    await first.waitFor(/^indexed \d+ message/);
    await eventually(state, (s) => Number(s.built) >= 2000, 60_000);
    const killed = await first.stop('SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    const mid = await state();
    expect(mid.complete).toBe(false);
    expect(mid.cursor).not.toBeNull();
    // The cursor and the entries commit together: exactly the built messages have entries.
    expect(Number(mid.built)).toBeGreaterThan(0);
    expect(Number(mid.built)).toBeLessThan(MESSAGES);
    expect(mid.entries).toBe(mid.built);
    const behind = await client.query<{ n: string }>(
      `select count(*)::text as n from messages m where m.id <= $1::uuid
         and not exists (select 1 from search_entries e where e.message_id = m.id)`,
      [mid.cursor],
    );
    expect(behind.rows[0]!.n).toBe('0');

    const second = runParley(['search', 'reindex', '--batch', '5000'], { DATABASE_URL: db.url });
    const { code } = await second.exited();
    expect(code, second.output()).toBe(0);
    expect(second.output()).toContain(`resuming the search index build after ${mid.built} message(s)`);
    expect(second.output()).toMatch(/search index complete in/);
    const end = await state();
    expect(end).toMatchObject({ complete: true, cursor: null, entries: String(MESSAGES) });

    const after = runParley(['doctor'], { DATABASE_URL: db.url });
    await after.exited();
    expect(after.output()).toMatch(/^PASS\s+search index\s+complete/m);

    // The index serves the list: the last message's order number, found through the API.
    const t = await createTestApp({}, { database: db });
    const match = await t.container.search.matchMessages(String(1000000 + MESSAGES), {
      includePrivate: true,
    });
    expect(match).toEqual({ kind: 'conversations', ids: [expect.any(String)] });
    const admin = await signIn(t, 'admin');
    const res = await httpClient(t)('GET', `/api/v1/conversations?q=${1000000 + MESSAGES}`, {
      cookie: admin.cookie,
    });
    expect(res.json<{ conversations: unknown[] }>().conversations).toHaveLength(1);
  });
});
