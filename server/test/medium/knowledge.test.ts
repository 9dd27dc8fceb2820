// The knowledge base (issue 16, point 1): entries with versions and audit, permissions, the
// category tree, synonyms and dictionary with their validation, and change events that reach a
// second replica through PostgreSQL.
import { afterAll, describe, expect, it } from 'vitest';
import type { KnowledgeChange } from '../../src/platform/events.ts';
import { createTestApp, httpClient, signIn } from '../support/app.ts';

const t = await createTestApp();
const call = httpClient(t);

async function auditActions(targetId: string): Promise<string[]> {
  const rows = await t.container.db
    .selectFrom('audit_log')
    .select('action')
    .where('target_id', '=', targetId)
    .orderBy('seq')
    .execute();
  return rows.map((r) => r.action);
}

const entryCount = async () =>
  Number(
    (
      await t.container.db
        .selectFrom('kb_entries')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 3000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('knowledge base entries', () => {
  it('creates, edits and deletes an entry; every edit is a version and an audit record', async () => {
    const admin = await signIn(t, 'admin');
    const created = await call('POST', '/api/v1/knowledge/entries', {
      cookie: admin.cookie,
      body: {
        question: '退货地址是什么？',
        similar: ['退货寄到哪里', '退货地址', '退货寄到哪里 '],
        answer: '请寄到：上海市浦东新区 XX 路 1 号。\n详情见链接。',
        attachments: [{ kind: 'link', url: 'https://example.com/returns', title: '退货说明' }],
        quickReplies: ['转人工'],
        tags: ['售后'],
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const entry = created.json();
    // Duplicates among similar questions (and copies of the standard question) are dropped.
    expect(entry).toMatchObject({
      question: '退货地址是什么？',
      similar: ['退货寄到哪里', '退货地址'],
      enabled: true,
      version: 1,
      channelIds: null,
    });

    const edited = await call('PATCH', `/api/v1/knowledge/entries/${entry.id}`, {
      cookie: admin.cookie,
      body: { answer: '新地址：北京市。', expectedVersion: 1 },
    });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json()).toMatchObject({ version: 2, answer: '新地址：北京市。' });
    // An editor that loaded version 1 cannot overwrite version 2 unknowingly.
    const stale = await call('PATCH', `/api/v1/knowledge/entries/${entry.id}`, {
      cookie: admin.cookie,
      body: { answer: 'x', expectedVersion: 1 },
    });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().error.field).toBe('version');

    const history = await call('GET', `/api/v1/knowledge/entries/${entry.id}/versions`, {
      cookie: admin.cookie,
    });
    expect(history.statusCode).toBe(200);
    const versions = history.json().versions;
    expect(versions.map((v: { version: number; action: string }) => [v.version, v.action])).toEqual([
      [2, 'update'],
      [1, 'create'],
    ]);
    expect(versions[0].actorName).toBe(admin.username);
    expect(versions[0].snapshot.answer).toBe('新地址：北京市。');
    expect(versions[1].snapshot.answer).toContain('上海市');

    expect(
      (await call('DELETE', `/api/v1/knowledge/entries/${entry.id}`, { cookie: admin.cookie })).statusCode,
    ).toBe(204);
    expect(
      (await call('GET', `/api/v1/knowledge/entries/${entry.id}`, { cookie: admin.cookie })).statusCode,
    ).toBe(404);
    // The history of a deleted entry stays readable.
    const after = (
      await call('GET', `/api/v1/knowledge/entries/${entry.id}/versions`, { cookie: admin.cookie })
    ).json();
    expect(after.versions[0]).toMatchObject({ version: 3, action: 'delete' });
    expect(await auditActions(entry.id)).toEqual([
      'knowledge.entry.create',
      'knowledge.entry.update',
      'knowledge.entry.delete',
    ]);
  });

  it('refuses a duplicate standard question (full-width, case and end punctuation folded), naming the field', async () => {
    const admin = await signIn(t, 'admin');
    const first = await call('POST', '/api/v1/knowledge/entries', {
      cookie: admin.cookie,
      body: { question: 'How do I reset my PIN?', answer: 'Settings → Security.' },
    });
    expect(first.statusCode).toBe(201);
    const before = await entryCount();
    const dup = await call('POST', '/api/v1/knowledge/entries', {
      cookie: admin.cookie,
      body: { question: 'ｈｏｗ do i reset my pin', answer: 'Another answer.' },
    });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error).toMatchObject({ field: 'question', details: { existingId: first.json().id } });
    expect(await entryCount()).toBe(before);
  });

  it('refuses bad input with 400 naming the field, and saves nothing', async () => {
    const admin = await signIn(t, 'admin');
    const before = await entryCount();
    const cases: [object, string][] = [
      [{ question: '   ', answer: 'a' }, 'question'],
      [{ question: 'q1', answer: '' }, 'answer'],
      [{ question: 'q2', answer: '长'.repeat(5001) }, 'answer'],
      [{ question: 'q3', answer: 'a', similar: ['ok', ''] }, 'similar[1]'],
      [
        { question: 'q4', answer: 'a', attachments: [{ kind: 'link', url: 'javascript:alert(1)' }] },
        'attachments[0].url',
      ],
      [
        {
          question: 'q5',
          answer: 'a',
          validFrom: '2027-01-02T00:00:00Z',
          validUntil: '2027-01-01T00:00:00Z',
        },
        'validUntil',
      ],
      [{ question: 'q6', answer: 'a', categoryId: '00000000-0000-4000-8000-000000000000' }, 'categoryId'],
      [{ question: 'q7', answer: 'a', quickReplies: ['x'.repeat(41)] }, 'quickReplies[0]'],
    ];
    for (const [body, field] of cases) {
      const res = await call('POST', '/api/v1/knowledge/entries', { cookie: admin.cookie, body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.field, JSON.stringify(body)).toBe(field);
    }
    expect(await entryCount()).toBe(before);
  });

  it('lets agents browse but not change; supervisors manage; auditors see nothing', async () => {
    const agent = await signIn(t, 'agent');
    const supervisor = await signIn(t, 'supervisor');
    const auditor = await signIn(t, 'auditor');
    const body = { question: '营业时间', answer: '每天 9:00–21:00。' };
    expect((await call('POST', '/api/v1/knowledge/entries', { cookie: agent.cookie, body })).statusCode).toBe(
      403,
    );
    const made = await call('POST', '/api/v1/knowledge/entries', { cookie: supervisor.cookie, body });
    expect(made.statusCode).toBe(201);
    const id = made.json().id;
    const list = await call('GET', '/api/v1/knowledge/entries?q=营业', { cookie: agent.cookie });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toMatchObject({ canManage: false });
    expect(list.json().entries.map((e: { id: string }) => e.id)).toContain(id);
    expect(
      (await call('GET', '/api/v1/knowledge/entries?q=营业', { cookie: supervisor.cookie })).json().canManage,
    ).toBe(true);
    expect(
      (
        await call('PATCH', `/api/v1/knowledge/entries/${id}`, {
          cookie: agent.cookie,
          body: { answer: 'x' },
        })
      ).statusCode,
    ).toBe(403);
    expect(
      (await call('DELETE', `/api/v1/knowledge/entries/${id}`, { cookie: agent.cookie })).statusCode,
    ).toBe(403);
    expect((await call('GET', '/api/v1/knowledge/entries', { cookie: auditor.cookie })).statusCode).toBe(403);
    expect(
      (await call('GET', `/api/v1/knowledge/entries/${id}`, { cookie: agent.cookie })).json().answer,
    ).toBe('每天 9:00–21:00。');
  });

  it('enables and disables many entries at once, versioned and audited once', async () => {
    const admin = await signIn(t, 'admin');
    const ids: string[] = [];
    for (const q of ['批量一', '批量二', '批量三']) {
      ids.push(
        (
          await call('POST', '/api/v1/knowledge/entries', {
            cookie: admin.cookie,
            body: { question: q, answer: 'a' },
          })
        ).json().id,
      );
    }
    const off = await call('POST', '/api/v1/knowledge/entries/enabled', {
      cookie: admin.cookie,
      body: { ids, enabled: false },
    });
    expect(off.statusCode).toBe(200);
    expect(off.json().changed.sort()).toEqual([...ids].sort());
    // Already disabled: nothing changes, no new version.
    const again = await call('POST', '/api/v1/knowledge/entries/enabled', {
      cookie: admin.cookie,
      body: { ids: [ids[0]], enabled: false },
    });
    expect(again.json().changed).toEqual([]);
    const list = (
      await call('GET', '/api/v1/knowledge/entries?q=批量&enabled=false', { cookie: admin.cookie })
    ).json();
    expect(list.total).toBe(3);
    const versions = (
      await call('GET', `/api/v1/knowledge/entries/${ids[0]}/versions`, { cookie: admin.cookie })
    ).json().versions;
    expect(versions.map((v: { action: string }) => v.action)).toEqual(['disable', 'create']);
    const audit = await t.container.db
      .selectFrom('audit_log')
      .select(['details'])
      .where('action', '=', 'knowledge.entry.disable')
      .execute();
    expect(audit.some((a) => (a.details as { count: number }).count === 3)).toBe(true);
  });

  it('keeps categories as a tree: filtering by a category includes its sub-categories; no cycles', async () => {
    const admin = await signIn(t, 'admin');
    const post = (body: object) =>
      call('POST', '/api/v1/knowledge/categories', { cookie: admin.cookie, body });
    const parent = (await post({ name: '售后' })).json();
    const child = (await post({ name: '退货', parentId: parent.id })).json();
    expect(child.parentId).toBe(parent.id);
    expect((await post({ name: '退货', parentId: parent.id })).statusCode).toBe(409);
    expect((await post({ name: 'a/b' })).json().error.field).toBe('name');
    const e = await call('POST', '/api/v1/knowledge/entries', {
      cookie: admin.cookie,
      body: { question: '怎么退货', answer: '在订单页申请。', categoryId: child.id },
    });
    expect(e.statusCode).toBe(201);
    const under = (
      await call('GET', `/api/v1/knowledge/entries?categoryId=${parent.id}`, { cookie: admin.cookie })
    ).json();
    expect(under.entries.map((x: { id: string }) => x.id)).toEqual([e.json().id]);
    const cycle = await call('PATCH', `/api/v1/knowledge/categories/${parent.id}`, {
      cookie: admin.cookie,
      body: { parentId: child.id },
    });
    expect(cycle.statusCode).toBe(400);
    expect(cycle.json().error.field).toBe('parentId');
    expect(
      (await call('DELETE', `/api/v1/knowledge/categories/${parent.id}`, { cookie: admin.cookie }))
        .statusCode,
    ).toBe(409);
    expect(
      (await call('DELETE', `/api/v1/knowledge/categories/${child.id}`, { cookie: admin.cookie })).statusCode,
    ).toBe(204);
    // Its entries stay, uncategorised.
    expect(
      (await call('GET', `/api/v1/knowledge/entries/${e.json().id}`, { cookie: admin.cookie })).json()
        .categoryId,
    ).toBe(null);
  });
});

describe('synonyms and dictionary', () => {
  it('validates synonym groups and dictionary words, naming the field', async () => {
    const admin = await signIn(t, 'admin');
    const bad: [object, string][] = [
      [{ words: ['快递'] }, 'words'],
      [{ words: ['快递', '快递'] }, 'words'],
      [{ words: ['快递', ' '] }, 'words[1]'],
      [{ words: ['快递', '物'.repeat(41)] }, 'words[1]'],
      [{ words: ['快递', '物 流'] }, 'words[1]'],
    ];
    for (const [body, field] of bad) {
      const res = await call('POST', '/api/v1/knowledge/synonyms', { cookie: admin.cookie, body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.field, JSON.stringify(body)).toBe(field);
    }
    const ok = await call('POST', '/api/v1/knowledge/synonyms', {
      cookie: admin.cookie,
      body: { words: ['快递', '物流', '包裹'] },
    });
    expect(ok.statusCode).toBe(201);
    const put = await call('PUT', `/api/v1/knowledge/synonyms/${ok.json().id}`, {
      cookie: admin.cookie,
      body: { words: ['快递', '物流'] },
    });
    expect(put.json().words).toEqual(['快递', '物流']);
    expect(await auditActions(ok.json().id)).toEqual([
      'knowledge.synonyms.create',
      'knowledge.synonyms.update',
    ]);

    const word = await call('POST', '/api/v1/knowledge/dictionary', {
      cookie: admin.cookie,
      body: { word: '微粒贷', kind: 'product' },
    });
    expect(word.statusCode).toBe(201);
    expect(
      (await call('POST', '/api/v1/knowledge/dictionary', { cookie: admin.cookie, body: { word: '微粒贷' } }))
        .statusCode,
    ).toBe(409);
    expect(
      (
        await call('POST', '/api/v1/knowledge/dictionary', { cookie: admin.cookie, body: { word: '' } })
      ).json().error.field,
    ).toBe('word');
    const agent = await signIn(t, 'agent');
    expect(
      (await call('POST', '/api/v1/knowledge/dictionary', { cookie: agent.cookie, body: { word: 'x' } }))
        .statusCode,
    ).toBe(403);
    const seam = await t.container.knowledge.matchable();
    expect(seam.synonyms).toContainEqual(['快递', '物流']);
    expect(seam.dictionary).toContain('微粒贷');
  });
});

describe('change events', () => {
  it('reach this replica at once and a second replica (through PostgreSQL) within a second', async () => {
    const other = await createTestApp({}, { database: t.database });
    await t.container.bridge!.start();
    await other.container.bridge!.start();
    afterAll(async () => {
      await t.container.bridge!.stop();
      await other.container.bridge!.stop();
    });
    // Both listeners are up once a round trip arrives.
    const here: KnowledgeChange[] = [];
    const there: KnowledgeChange[] = [];
    t.container.onKnowledgeChange((c) => here.push(c));
    other.container.onKnowledgeChange((c) => there.push(c));
    const admin = await signIn(t, 'admin');
    await until('the other replica to listen', async () => {
      await call('POST', '/api/v1/knowledge/dictionary', {
        cookie: admin.cookie,
        body: { word: `probe${Date.now()}${Math.random().toString(36).slice(2, 6)}` },
      });
      return there.some((c) => c.what === 'dictionary') ? true : undefined;
    });

    const started = Date.now();
    const made = await call('POST', '/api/v1/knowledge/entries', {
      cookie: admin.cookie,
      body: { question: '发票怎么开', similar: ['开发票'], answer: '在订单页申请电子发票。' },
    });
    const id = made.json().id as string;
    expect(here).toContainEqual({ what: 'entries', ids: [id] });
    await until('the entry change on the other replica', () =>
      there.some((c) => c.what === 'entries' && c.ids.includes(id)) ? true : undefined,
    );
    expect(Date.now() - started).toBeLessThan(1000);
    // The other replica reads the entry as it now is.
    const [seen] = await other.container.knowledge.matchableEntries([id]);
    expect(seen).toMatchObject({
      question: '发票怎么开',
      similar: ['开发票'],
      enabled: true,
      channelIds: null,
    });

    await call('POST', '/api/v1/knowledge/synonyms', {
      cookie: admin.cookie,
      body: { words: ['发票', '票据'] },
    });
    await until('the synonym change on the other replica', () =>
      there.some((c) => c.what === 'synonyms') ? true : undefined,
    );
    await call('DELETE', `/api/v1/knowledge/entries/${id}`, { cookie: admin.cookie });
    await until('the deletion on the other replica', () =>
      there.filter((c) => c.what === 'entries' && c.ids.includes(id)).length === 2 ? true : undefined,
    );
    expect(await other.container.knowledge.matchableEntries([id])).toEqual([]);
  });
});
