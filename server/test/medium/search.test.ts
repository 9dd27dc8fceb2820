// Message search (modules/search, docs/SEARCH.md) against real PostgreSQL: the index, the exact
// check, the unindexed tail, recall/erase, private notes, team scope, paging and the build.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createConversationsRepository } from '../../src/modules/conversations/conversations.repository.ts';
import { generateKey } from '../../src/platform/crypto/keyring.ts';
import { createPiiProtector } from '../../src/platform/crypto/pii-protector.ts';
import { createSearchIndexer } from '../../src/modules/search/search.indexer.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createSearchRepository } from '../../src/modules/search/search.repository.ts';
import { createSearchService } from '../../src/modules/search/search.service.ts';
import { createTestApp, httpClient, signIn } from '../support/app.ts';

// With encryption keys, as transcript masking needs them.
const t = await createTestApp({
  PARLEY_ENCRYPTION_KEYS: `k1:${generateKey()}`,
  PARLEY_LOOKUP_KEY: generateKey(),
});
const inject = httpClient(t);
const db = t.container.db;
const search = t.container.search;
const admin = await signIn(t, 'admin');

async function visitorSays(...texts: string[]) {
  const session = await inject('POST', '/api/v1/widget/session', { body: {} });
  const token = session.json<{ token: string }>().token;
  const conv = await inject('POST', '/api/v1/widget/conversations', { token });
  const conversationId = conv.json<{ id: string }>().id;
  const messageIds: string[] = [];
  for (const text of texts) {
    const res = await inject('POST', `/api/v1/widget/conversations/${conversationId}/messages`, {
      token,
      body: { clientId: randomUUID(), text },
    });
    expect(res.statusCode, res.body).toBeLessThan(300);
    messageIds.push(res.json<{ messageId: string }>().messageId);
  }
  return { token, conversationId, contactId: session.json<{ contactId: string }>().contactId, messageIds };
}

/** Runs the indexer until the change log is empty. */
async function indexAll() {
  for (;;) {
    const r = await search.indexChanges(1000);
    expect(r.locked).toBe(true);
    if (r.messages === 0) return;
  }
}

async function listed(q: string, cookie = admin.cookie, extra = ''): Promise<string[]> {
  const res = await inject('GET', `/api/v1/conversations?q=${encodeURIComponent(q)}&limit=100${extra}`, {
    cookie,
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ conversations: { id: string }[] }>().conversations.map((c) => c.id);
}

/** The index decided (not the fallback scan) and these conversations matched. */
async function indexed(q: string, includePrivate = true): Promise<string[]> {
  const m = await search.matchMessages(q, { includePrivate });
  expect(m.kind).toBe('conversations');
  return m.kind === 'conversations' ? m.ids : [];
}

describe('message search', () => {
  it('finds two-character words and digits inside longer text, exactly', async () => {
    const tag = randomUUID().slice(0, 4);
    const a = await visitorSays(`我想申请退款因为商品有破损${tag}`);
    const b = await visitorSays(`您好，订单号2026120712345678还没到，电话13800138000 ${tag}`);
    const c = await visitorSays(`编号 1234 和 3456 都不对 ${tag}`);
    await indexAll();
    expect(await indexed('退款')).toContain(a.conversationId);
    expect(await listed(`退款因为`)).toEqual([a.conversationId]);
    expect(await listed('2026120712345678')).toEqual([b.conversationId]);
    expect(await listed('0013800')).toEqual([b.conversationId]); // a phone-number fragment
    expect(await listed(`还没到，电话`)).toEqual([b.conversationId]); // mixed, punctuation inside
    // The index holds every trigram of "123456" for c ("1234", "3456"), but not the substring:
    // the exact check removes it.
    const m = await search.matchMessages('123456', { includePrivate: true });
    expect(m.kind === 'conversations' && m.ids.includes(c.conversationId)).toBe(false);
    expect(await listed('123456')).not.toContain(c.conversationId);
    expect(await listed(`退款 ${tag}`)).toEqual([]);
  });

  it('matches full-width digits and letters with half-width ones, both ways, and any case', async () => {
    const tag = randomUUID().slice(0, 6);
    const a = await visitorSays(`订单ＳＯ２０２６１２０７ 已付款 ${tag}`);
    const b = await visitorSays(`Order so99887766 shipped ${tag}`);
    await indexAll();
    expect(await listed('SO20261207')).toEqual([a.conversationId]);
    expect(await listed('ＳＯ９９８８')).toEqual([b.conversationId]);
    expect(await listed('ORDER SO998')).toEqual([b.conversationId]);
  });

  it('does not map traditional to simplified characters (documented in docs/SEARCH.md)', async () => {
    const tag = randomUUID().slice(0, 6);
    const trad = await visitorSays(`我要退貨 ${tag}`);
    await indexAll();
    expect(await listed(`退貨 ${tag}`)).toEqual([trad.conversationId]);
    expect(await listed(`退货 ${tag}`)).toEqual([]);
  });

  it('treats % and _ as text', async () => {
    const tag = randomUUID().slice(0, 6);
    const pct = await visitorSays(`全场打折50%优惠 ${tag}`);
    const und = await visitorSays(`文件名 report_${tag}.pdf`);
    const plain = await visitorSays(`全场打折507优惠 reportx${tag}.pdf`);
    await indexAll();
    expect(await listed('折50%优')).toEqual([pct.conversationId]);
    expect(await listed(`report_${tag}`)).toEqual([und.conversationId]);
    expect(await listed('折50_优')).toEqual([]);
    expect(await listed(`折5%`)).toEqual([]);
    expect(plain.conversationId).toBeTruthy();
  });

  it('finds what is not indexed yet (the change log is scanned)', async () => {
    const word = `尾巴${randomUUID().slice(0, 6)}`;
    const v = await visitorSays(`刚刚发送的${word}`);
    const pending = await db
      .selectFrom('search_changes')
      .select('id')
      .where('message_id', '=', v.messageIds[0]!)
      .execute();
    expect(pending).toHaveLength(1);
    expect(await indexed(word)).toEqual([v.conversationId]);
    expect(await listed(word)).toEqual([v.conversationId]);
    await indexAll();
    expect(
      await db
        .selectFrom('search_entries')
        .select('message_id')
        .where('message_id', '=', v.messageIds[0]!)
        .execute(),
    ).toHaveLength(1);
    expect(await listed(word)).toEqual([v.conversationId]);
  });

  it('a recalled message leaves the index in the recall transaction; an edit is indexed anew', async () => {
    const word = `撤回${randomUUID().slice(0, 6)}`;
    const v = await visitorSays(`这句话要${word}`);
    await indexAll();
    expect(await listed(word)).toEqual([v.conversationId]);
    const recall = await inject('POST', `/api/v1/widget/messages/${v.messageIds[0]}/recall`, {
      token: v.token,
    });
    expect(recall.statusCode, recall.body).toBe(200);
    // No indexer run in between: the entry went with the recall.
    expect(
      await db
        .selectFrom('search_entries')
        .select('message_id')
        .where('message_id', '=', v.messageIds[0]!)
        .execute(),
    ).toEqual([]);
    expect(await listed(word)).toEqual([]);
    await indexAll();
    expect(await listed(word)).toEqual([]);
    expect(
      await db
        .selectFrom('search_entries')
        .select('message_id')
        .where('message_id', '=', v.messageIds[0]!)
        .execute(),
    ).toEqual([]);
  });

  it('an erased contact leaves no search trace', async () => {
    const word = `擦除${randomUUID().slice(0, 6)}`;
    const v = await visitorSays(`请删除${word}`, `还有一条${word}`);
    await search.indexChanges(1); // one indexed, one still queued
    expect(await listed(word)).toEqual([v.conversationId]);
    const asked = await inject('POST', `/api/v1/contacts/${v.contactId}/erasure-request`, {
      cookie: admin.cookie,
    });
    expect(asked.statusCode, asked.body).toBe(200);
    const erased = await inject('POST', `/api/v1/contacts/${v.contactId}/erase`, {
      cookie: admin.cookie,
      body: { confirmation: asked.json<{ confirmation: string }>().confirmation },
    });
    expect(erased.statusCode, erased.body).toBe(200);
    for (const table of ['search_entries', 'search_changes'] as const) {
      expect(
        await db.selectFrom(table).select('message_id').where('message_id', 'in', v.messageIds).execute(),
      ).toEqual([]);
    }
    expect(
      await db
        .selectFrom('search_entries')
        .select('message_id')
        .where('conversation_id', '=', v.conversationId)
        .execute(),
    ).toEqual([]);
    expect(await listed(word)).toEqual([]);
  });

  it('never indexes the original of a masked message', async () => {
    const on = await inject('PATCH', '/api/v1/security/settings', {
      cookie: admin.cookie,
      body: { transcriptMasking: true },
    });
    expect(on.statusCode, on.body).toBe(200);
    try {
      const v = await visitorSays('我的手机 13911112222 请回电');
      await indexAll();
      expect(await listed('13911112222')).toEqual([]);
      expect(await listed('1111')).not.toContain(v.conversationId);
      const { rows } = await sql<{
        t: string;
      }>`select tokens::text as t from search_entries where message_id = ${v.messageIds[0]!}`.execute(db);
      expect(rows[0]!.t).not.toContain('111');
    } finally {
      await inject('PATCH', '/api/v1/security/settings', {
        cookie: admin.cookie,
        body: { transcriptMasking: false },
      });
    }
  });

  it('a private note is never found by a visitor-visible search, and only in the reader scope', async () => {
    const word = `备注${randomUUID().slice(0, 6)}`;
    const team = (
      await db
        .insertInto('teams')
        .values({ name: `S-${word}` })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    const other = (
      await db
        .insertInto('teams')
        .values({ name: `O-${word}` })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    const v = await visitorSays('你好');
    await db.updateTable('conversations').set({ team_id: team }).where('id', '=', v.conversationId).execute();
    const note = await inject('POST', `/api/v1/conversations/${v.conversationId}/messages`, {
      cookie: admin.cookie,
      body: { clientId: randomUUID(), text: `内部${word}：VIP`, private: true },
    });
    expect(note.statusCode, note.body).toBe(201);
    for (const round of ['tail', 'indexed']) {
      if (round === 'indexed') await indexAll();
      expect(await indexed(word, false), round).toEqual([]);
      expect(await indexed(word, true), round).toEqual([v.conversationId]);
      const member = await signIn(t, 'agent', { teamIds: [team] });
      const outsider = await signIn(t, 'agent', { teamIds: [other] });
      expect(await listed(word, member.cookie), round).toEqual([v.conversationId]);
      expect(await listed(word, outsider.cookie), round).toEqual([]);
    }
  });

  it('pages with the cursor in list order, on the index path and on the scan path alike', async () => {
    const word = `分页${randomUUID().slice(0, 6)}`;
    const convs: string[] = [];
    for (let i = 0; i < 5; i++) convs.push((await visitorSays(`第${i}条 ${word}`)).conversationId);
    await indexAll();
    const pages = async (): Promise<string[]> => {
      const out: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await inject(
          'GET',
          `/api/v1/conversations?q=${encodeURIComponent(word)}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
          { cookie: admin.cookie },
        );
        const body = res.json<{ conversations: { id: string }[]; nextCursor: string | null }>();
        out.push(...body.conversations.map((c) => c.id));
        cursor = body.nextCursor;
      } while (cursor);
      return out;
    };
    const viaIndex = await pages();
    expect(viaIndex).toEqual([...convs].reverse()); // newest activity first, as the list
    // The same list when the query is too common for the index (the scan path).
    const common = createSearchService({ db, repo: createSearchRepository(), maxIndexHits: 2 });
    expect((await common.matchMessages(word, { includePrivate: true })).kind).toBe('condition');
    // One more, not indexed yet: the walk finds it through the tail.
    const late = await visitorSays(`最新 ${word}`);
    const m = await common.matchMessages(word, { includePrivate: true });
    const repo = createConversationsRepository({ pii: createPiiProtector(null) });
    const scanned: string[] = [];
    let after: { at: Date; id: string } | undefined;
    for (;;) {
      const rows = await repo.listConversations(db, {
        scope: null,
        userId: admin.userId,
        search: word,
        messageMatch: m,
        after,
        limit: 2,
      });
      scanned.push(...rows.map((r) => r.id));
      const last = rows.at(-1);
      if (!last || rows.length < 2) break;
      after = { at: new Date(last.sort_at), id: last.id };
    }
    expect(scanned).toEqual([late.conversationId, ...viaIndex]);
  });

  it('a build walks every message, resumes from its cursor, and search scans until it is complete', async () => {
    const word = `重建${randomUUID().slice(0, 6)}`;
    const v = await visitorSays(`旧消息${word}`);
    await indexAll();
    // As after the migration on an existing database: no entries, build not complete.
    await db.deleteFrom('search_entries').execute();
    await db.updateTable('search_state').set({ complete: false, cursor: null, built: 0 }).execute();
    expect((await search.matchMessages(word, { includePrivate: true })).kind).toBe('condition');
    expect(await listed(word)).toEqual([v.conversationId]);
    expect(await search.startBuild()).toEqual({ resumed: false });
    const first = await search.buildBatch(3);
    expect(first).toMatchObject({ locked: true, messages: 3, done: false });
    const mid = await search.status();
    expect(mid).toMatchObject({ complete: false, building: true, built: 3 });
    for (;;) if ((await search.buildBatch(50)).done) break;
    const end = await search.status();
    expect(end).toMatchObject({ complete: true, building: false });
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from messages m where m.recalled_at is null and m.body <> ''
        and not exists (select 1 from search_entries e where e.message_id = m.id)`.execute(db);
    expect(rows[0]!.n).toBe(0);
    expect(await indexed(word)).toEqual([v.conversationId]);
    // The maintenance lock: a batch while another transaction holds it does nothing.
    await db.transaction().execute(async (tx) => {
      await sql`select pg_advisory_xact_lock(7230023)`.execute(tx);
      await visitorSays('锁住时发送');
      const other = createSearchService({ db, repo: createSearchRepository() });
      expect(await other.indexChanges(10)).toEqual({ locked: false, messages: 0 });
    });
  });

  it('the background indexer indexes a new message within 5 s of its commit', async () => {
    const indexer = createSearchIndexer({ search, logger: createLogger('silent') });
    indexer.start();
    try {
      const word = `新鲜${randomUUID().slice(0, 6)}`;
      const v = await visitorSays(`刚到的${word}`);
      const sent = Date.now();
      const entry = () =>
        db
          .selectFrom('search_entries')
          .select('message_id')
          .where('message_id', '=', v.messageIds[0]!)
          .execute();
      while ((await entry()).length === 0) {
        expect(Date.now() - sent).toBeLessThan(5000);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(
        await db
          .selectFrom('search_changes')
          .select('id')
          .where('message_id', '=', v.messageIds[0]!)
          .execute(),
      ).toEqual([]);
      expect(await indexed(word)).toEqual([v.conversationId]);
    } finally {
      await indexer.stop();
    }
  });

  it('reports size and lag on /metrics', async () => {
    await visitorSays('指标');
    const res = await inject('GET', '/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/parley_search_index_bytes \d+/);
    expect(res.body).toMatch(/parley_search_pending_changes [1-9]/);
    expect(res.body).toMatch(/parley_search_lag_seconds [\d.]+/);
    expect(res.body).toMatch(/parley_search_index_complete 1/);
    await indexAll();
    const after = await inject('GET', '/metrics');
    expect(after.body).toMatch(/parley_search_pending_changes 0/);
  });
});
