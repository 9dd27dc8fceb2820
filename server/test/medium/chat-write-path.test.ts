// The cheaper chat write path (migrations/0018): a message updates its conversation without
// touching any index, the list is ordered from two sets (active by last activity, resolved by
// the time they were resolved) and pages through both without gaps or repeats, message search
// finds words inside Chinese text, and a resend that races its original through the fast path
// still stores one row and leaves the seq gap-free.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestApp, httpClient, signIn } from '../support/app.ts';

const t = await createTestApp();
const http = httpClient(t);

async function visitorConversation(text: string) {
  const session = await http('POST', '/api/v1/widget/session', { body: {} });
  const { token, contactId } = session.json<{ token: string; contactId: string }>();
  const conv = await http('POST', '/api/v1/widget/conversations', { token });
  const id = conv.json<{ id: string }>().id;
  const sent = await http('POST', `/api/v1/widget/conversations/${id}/messages`, {
    token,
    body: { clientId: randomUUID(), text },
  });
  expect(sent.statusCode, sent.body).toBe(201);
  return { id, token, contactId };
}

type Listed = { conversations: { id: string; status: string }[]; nextCursor: string | null };

async function listAll(cookie: string, query: string, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const url = `/api/v1/conversations?view=all&limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = await http('GET', url, { cookie });
    expect(res.statusCode, res.body).toBe(200);
    const page = res.json<Listed>();
    ids.push(...page.conversations.map((c) => c.id));
    cursor = page.nextCursor;
    if (!cursor) return ids;
  }
  throw new Error('paging did not end');
}

describe('the chat write path', () => {
  it('leaves no index on conversations holding a column that every message changes', async () => {
    const { rows } = await sql<{
      index: string;
      column: string;
    }>`select i.relname as index, a.attname as column
              from pg_index x
              join pg_class i on i.oid = x.indexrelid
              join pg_attribute a on a.attrelid = x.indrelid
             where x.indrelid = 'conversations'::regclass
               and (a.attnum = any (x.indkey)
                 or pg_get_expr(x.indexprs, x.indrelid) like '%' || a.attname || '%'
                 or pg_get_expr(x.indpred, x.indrelid) like '%' || a.attname || '%')
               and a.attname in ('last_seq', 'last_public_seq', 'last_activity_at', 'updated_at',
                                 'last_message_preview')`.execute(t.container.db);
    // Any such index makes every message's update write an entry into every index (no HOT).
    expect(rows).toEqual([]);
  });

  it('lists active conversations by last activity and resolved ones by resolution, paging through both', async () => {
    const admin = await signIn(t, 'admin');
    const made: Awaited<ReturnType<typeof visitorConversation>>[] = [];
    for (let i = 0; i < 7; i++) made.push(await visitorConversation(`咨询 ${i}`));
    const base = Date.now() - 3_600_000;
    const at = (minutes: number) => new Date(base + minutes * 60_000);
    // Conversations 0–3 stay open; 4–6 are resolved. Times interleave the two sets.
    const plan: { activity: number; resolved?: number }[] = [
      { activity: 10 },
      { activity: 40 },
      { activity: 25 },
      { activity: 55 },
      { activity: 50, resolved: 30 }, // activity after resolution (a note): ordered by resolution
      { activity: 45, resolved: 45 },
      { activity: 5, resolved: 5 },
    ];
    for (const [i, p] of plan.entries()) {
      await t.container.db
        .updateTable('conversations')
        .set({
          last_activity_at: at(p.activity),
          ...(p.resolved !== undefined ? { status: 'resolved', resolved_at: at(p.resolved) } : {}),
        })
        .where('id', '=', made[i]!.id)
        .execute();
    }
    const mine = new Set(made.map((m) => m.id));
    const order = (ids: string[]) =>
      ids.filter((id) => mine.has(id)).map((id) => made.findIndex((m) => m.id === id));
    // sort keys: 0→10, 1→40, 2→25, 3→55, 4→30, 5→45, 6→5
    expect(order(await listAll(admin.cookie, '', 100))).toEqual([3, 5, 1, 4, 2, 0, 6]);
    for (const limit of [1, 2, 3]) {
      const paged = await listAll(admin.cookie, '', limit);
      expect(new Set(paged).size).toBe(paged.length); // no repeats
      expect(order(paged)).toEqual([3, 5, 1, 4, 2, 0, 6]);
    }
    expect(order(await listAll(admin.cookie, '&status=resolved', 2))).toEqual([5, 4, 6]);
    expect(order(await listAll(admin.cookie, '&status=open', 2))).toEqual([3, 1, 2, 0]);

    // A new message moves an open conversation to the top at once.
    const sent = await http('POST', `/api/v1/widget/conversations/${made[0]!.id}/messages`, {
      token: made[0]!.token,
      body: { clientId: randomUUID(), text: '还在吗' },
    });
    expect(sent.statusCode).toBe(201);
    expect(order(await listAll(admin.cookie, '&status=open', 100))[0]).toBe(0);
    // A visitor message reopens a resolved conversation: it leaves the resolved set.
    const reopened = await http('POST', `/api/v1/widget/conversations/${made[6]!.id}/messages`, {
      token: made[6]!.token,
      body: { clientId: randomUUID(), text: '问题又出现了' },
    });
    expect(reopened.statusCode).toBe(201);
    expect(order(await listAll(admin.cookie, '&status=resolved', 100))).toEqual([5, 4]);
    expect(
      order(await listAll(admin.cookie, '&status=open', 100))
        .slice(0, 2)
        .sort(),
    ).toEqual([0, 6]);
  });

  it('finds a word inside Chinese text, and not a word that is not there', async () => {
    const admin = await signIn(t, 'admin');
    const { id } = await visitorConversation('你好，我上周买的耳机想申请退款，请问怎么操作？');
    const search = async (q: string) => {
      const res = await http('GET', `/api/v1/conversations?view=all&q=${encodeURIComponent(q)}`, {
        cookie: admin.cookie,
      });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<Listed>().conversations.map((c) => c.id);
    };
    expect(await search('退款')).toContain(id);
    expect(await search('申请退款')).toContain(id);
    expect(await search('耳机')).toContain(id);
    expect(await search('退货')).not.toContain(id);
    // LIKE wildcards are text, not patterns.
    expect(await search('%')).not.toContain(id);
  });

  it('stores one row when a resend races its original for the row lock, and gives the seq back', async () => {
    const { id, contactId } = await visitorConversation('第一条');
    const clients = [0, 1, 2].map(() => new pg.Client({ connectionString: t.database.url }));
    await Promise.all(clients.map((c) => c.connect()));
    try {
      const [holder, a, b] = clients as [pg.Client, pg.Client, pg.Client];
      const before = (
        await holder.query<{ last_seq: string; last_public_seq: string }>(
          'select last_seq, last_public_seq from conversations where id = $1',
          [id],
        )
      ).rows[0]!;
      // Hold the row lock so both sends pass the unlocked duplicate check and wait for it.
      await holder.query('begin');
      await holder.query('select 1 from conversations where id = $1 for update', [id]);
      const clientId = randomUUID();
      const append = (c: pg.Client) =>
        c.query<{ r_message_id: string; r_seq: string; r_duplicate: boolean }>(
          `select * from parley_append_message($1, $2, $3, 'visitor', $2, '重发的消息', false, true, false, null)`,
          [id, contactId, clientId],
        );
      // These two backends only: other test files run appends on the same cluster at once.
      const pids = await Promise.all(
        [a, b].map(
          async (c) => (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid,
        ),
      );
      const sends = [append(a), append(b)];
      // If the wait below fails, the clients are ended under the pending sends: not a second error.
      for (const send of sends) send.catch(() => undefined);
      for (let i = 0; ; i++) {
        const { rows } = await holder.query<{ n: string }>(
          `select count(*) as n from pg_stat_activity where pid = any($1) and wait_event_type = 'Lock'`,
          [pids],
        );
        if (Number(rows[0]!.n) === 2) break;
        if (i > 1000) throw new Error('the two sends never waited for the lock');
        await new Promise((r) => setTimeout(r, 10));
      }
      await holder.query('commit');
      const results = (await Promise.all(sends)).map((r) => r.rows[0]!);
      expect(results.map((r) => r.r_duplicate).sort()).toEqual([false, true]);
      expect(results[0]!.r_message_id).toBe(results[1]!.r_message_id);
      expect(Number(results[0]!.r_seq)).toBe(Number(before.last_seq) + 1);
      const after = (
        await holder.query<{ last_seq: string; last_public_seq: string; rows: string; max_seq: string }>(
          `select c.last_seq, c.last_public_seq,
                  (select count(*) from messages m where m.conversation_id = c.id and m.client_id = $2) as rows,
                  (select max(seq) from messages m where m.conversation_id = c.id) as max_seq
             from conversations c where c.id = $1`,
          [id, clientId],
        )
      ).rows[0]!;
      expect(Number(after.rows)).toBe(1);
      expect(Number(after.last_seq)).toBe(Number(before.last_seq) + 1);
      expect(Number(after.max_seq)).toBe(Number(after.last_seq));
      expect(Number(after.last_public_seq)).toBe(Number(after.last_seq));
      // The next send follows without a gap.
      const next = await append(a).then(() =>
        a.query<{ r_seq: string }>(
          `select * from parley_append_message($1, $2, $3, 'visitor', $2, '下一条', false, true, false, null)`,
          [id, contactId, randomUUID()],
        ),
      );
      expect(Number(next.rows[0]!.r_seq)).toBe(Number(after.last_seq) + 1);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });
});
