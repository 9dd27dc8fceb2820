// Routing rules (issue 15, point 2; docs/ROUTING.md "Rules"): every condition type, first match
// in order, reorder, enable/disable, the website's default team, audit records in the same
// transaction, bad input (400 naming the field, nothing saved), a team that rules use cannot be
// deleted, the visitor's language from the widget, who may do what, and the cache of a second
// replica on the same database refreshed through LISTEN/NOTIFY within a second.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DecideTarget, RoutingInput } from '../../src/modules/routing/routing-target.ts';
import { createTestApp, httpClient, signIn } from '../support/app.ts';

const t = await createTestApp();
/** A second replica on the same database (the cross-replica test). */
const other = await createTestApp({}, { database: t.database });
const http = httpClient(t);
const admin = await signIn(t, 'admin');

type Rule = { id: string; position: number; name: string; enabled: boolean; teamId: string };
type ErrorBody = {
  error: { field?: string; message: string; details?: { usedBy?: { kind: string; name: string }[] } };
};

async function team(name: string): Promise<string> {
  const res = await http('POST', '/api/v1/teams', {
    cookie: admin.cookie,
    body: { name: `${name}-${randomUUID()}` },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ id: string }>().id;
}
async function website(): Promise<string> {
  const res = await http('POST', '/api/v1/channels', {
    cookie: admin.cookie,
    body: { name: `站点-${randomUUID()}` },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ siteKey: string }>().siteKey;
}
async function createRule(body: Record<string, unknown>): Promise<Rule> {
  const res = await http('POST', '/api/v1/routing/rules', { cookie: admin.cookie, body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<Rule>();
}
const input = (channelId: string, over: Partial<RoutingInput> = {}): RoutingInput => ({
  conversationId: randomUUID(),
  channelId,
  sourcePageUrl: null,
  language: null,
  contact: { id: randomUUID(), tags: [], attributes: {} },
  firstMessage: '',
  ...over,
});
const ruleCount = async () =>
  Number(
    (
      await t.container.db
        .selectFrom('routing_rules')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('routing rules: conditions and order', () => {
  const setup = (async () => {
    const site = await website();
    const sales = await team('销售');
    const aftersales = await team('售后');
    const billing = await team('财务');
    const english = await team('English');
    const vip = await team('VIP');
    const agent = await signIn(t, 'agent', { teamIds: [aftersales] });
    return { site, sales, aftersales, billing, english, vip, agent };
  })();

  it('matches each condition type; the first matching enabled rule wins; the trace says why not the others', async () => {
    const s = await setup;
    const complaint = await createRule({
      channelId: s.site,
      name: '投诉',
      conditions: [{ type: 'keywords', values: ['投诉', '退款'] }],
      teamId: s.aftersales,
      priority: 'high',
      preferredAgentId: s.agent.userId,
    });
    const invoice = await createRule({
      channelId: s.site,
      name: '发票',
      conditions: [{ type: 'keywords', values: ['发票', 'INVOICE'] }],
      teamId: s.billing,
      priority: 'normal',
    });
    const vipRule = await createRule({
      channelId: s.site,
      name: 'VIP',
      conditions: [{ type: 'attribute', key: 'vip', value: true }],
      teamId: s.vip,
      priority: 'vip',
    });
    const tagged = await createRule({
      channelId: s.site,
      name: 'wholesale',
      conditions: [{ type: 'tags', match: 'all', values: ['wholesale', 'verified'] }],
      teamId: s.sales,
      priority: 'low',
    });
    const english = await createRule({
      channelId: s.site,
      name: 'English',
      conditions: [{ type: 'language', values: ['en'] }],
      teamId: s.english,
      priority: 'normal',
    });
    const pricing = await createRule({
      channelId: s.site,
      name: 'pricing pages',
      conditions: [
        { type: 'pageUrl', op: 'glob', value: 'https://shop.example.com/*/pricing?' },
        { type: 'tags', match: 'any', values: ['lead', 'trial'] },
      ],
      teamId: s.sales,
      priority: 'urgent',
    });
    const prefix = await createRule({
      channelId: s.site,
      name: 'checkout',
      conditions: [{ type: 'pageUrl', op: 'prefix', value: 'https://shop.example.com/checkout' }],
      teamId: s.sales,
      priority: 'high',
    });
    const contains = await createRule({
      channelId: s.site,
      name: 'docs',
      conditions: [{ type: 'pageUrl', op: 'contains', value: '/docs/' }],
      teamId: s.aftersales,
      priority: 'low',
    });
    expect(
      [complaint, invoice, vipRule, tagged, english, pricing, prefix, contains].map((r) => r.position),
    ).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const d: { decide: DecideTarget } = t.container.routingRules; // the engine's seam, type-checked

    // keywords: case- and width-insensitive (full-width ＩＮＶＯＩＣＥ, 退款 inside a sentence).
    expect(await d.decide(input(s.site, { firstMessage: '我要退款，谢谢' }))).toEqual({
      teamId: s.aftersales,
      priority: 'high',
      preferredAgentId: s.agent.userId,
      ruleId: complaint.id,
    });
    expect((await d.decide(input(s.site, { firstMessage: 'need an ＩＮＶＯＩＣＥ please' }))).ruleId).toBe(
      invoice.id,
    );
    expect((await d.decide(input(s.site, { firstMessage: '开发票' }))).teamId).toBe(s.billing);
    // attribute equals (a boolean, or the same value as text)
    for (const v of [true, 'true']) {
      expect(
        (await d.decide(input(s.site, { contact: { id: 'c', tags: [], attributes: { vip: v } } }))).ruleId,
      ).toBe(vipRule.id);
    }
    expect(
      (await d.decide(input(s.site, { contact: { id: 'c', tags: [], attributes: { vip: false } } }))).ruleId,
    ).toBeNull();
    // tags: all
    expect(
      (
        await d.decide(
          input(s.site, { contact: { id: 'c', tags: ['Wholesale', 'verified'], attributes: {} } }),
        )
      ).ruleId,
    ).toBe(tagged.id);
    expect(
      (await d.decide(input(s.site, { contact: { id: 'c', tags: ['wholesale'], attributes: {} } }))).ruleId,
    ).toBeNull();
    // language: prefix of the BCP 47 tag, any letter case
    expect((await d.decide(input(s.site, { language: 'en-GB' }))).ruleId).toBe(english.id);
    expect((await d.decide(input(s.site, { language: 'EN' }))).ruleId).toBe(english.id);
    expect((await d.decide(input(s.site, { language: 'eno' }))).ruleId).toBeNull();
    // page URL: glob (* and ?) together with tags any; prefix; contains
    const lead = { id: 'c', tags: ['lead'], attributes: {} };
    expect(
      (
        await d.decide(
          input(s.site, { sourcePageUrl: 'https://shop.example.com/zh/pricing1', contact: lead }),
        )
      ).ruleId,
    ).toBe(pricing.id);
    expect(
      (await d.decide(input(s.site, { sourcePageUrl: 'https://shop.example.com/zh/pricing', contact: lead })))
        .ruleId,
    ).toBeNull();
    expect(
      (await d.decide(input(s.site, { sourcePageUrl: 'https://shop.example.com/zh/pricing1' }))).ruleId,
    ).toBeNull();
    expect(
      (await d.decide(input(s.site, { sourcePageUrl: 'https://shop.example.com/checkout/2' }))).ruleId,
    ).toBe(prefix.id);
    expect(
      (await d.decide(input(s.site, { sourcePageUrl: 'https://x.example.com/checkout' }))).ruleId,
    ).toBeNull();
    expect((await d.decide(input(s.site, { sourcePageUrl: 'https://help.example.com/docs/a' }))).ruleId).toBe(
      contains.id,
    );

    // First match wins: a complaint from an English VIP goes to the complaint rule.
    const both = input(s.site, {
      firstMessage: '投诉',
      language: 'en',
      contact: { id: 'c', tags: [], attributes: { vip: true } },
    });
    expect((await d.decide(both)).ruleId).toBe(complaint.id);

    // The test box: the same answer, with why each earlier rule did not hit.
    const res = await http('POST', '/api/v1/routing/test', {
      cookie: admin.cookie,
      body: { channelId: s.site, language: 'en-US', message: 'hello', attributes: { vip: 'no' } },
    });
    expect(res.statusCode, res.body).toBe(200);
    const out = res.json<{
      target: { ruleId: string };
      trace: { ruleId: string; outcome: string; failed: { type: string; reason: string } | null }[];
      usedDefault: boolean;
    }>();
    expect(out.target.ruleId).toBe(english.id);
    expect(out.usedDefault).toBe(false);
    expect(out.trace.map((e) => e.outcome)).toEqual([
      'no_match',
      'no_match',
      'no_match',
      'no_match',
      'matched',
    ]);
    expect(out.trace[0]!.failed).toMatchObject({ type: 'keywords' });
    expect(out.trace[0]!.failed!.reason).toContain('投诉');
    expect(out.trace[2]!.failed).toMatchObject({ type: 'attribute', reason: 'attribute vip is not true' });

    // Disable the complaint rule: the same input now falls through to the VIP rule.
    const off = await http('PATCH', `/api/v1/routing/rules/${complaint.id}`, {
      cookie: admin.cookie,
      body: { enabled: false },
    });
    expect(off.statusCode, off.body).toBe(200);
    expect((await d.decide(both)).ruleId).toBe(vipRule.id);

    // Reorder: English first.
    const order = [english, complaint, invoice, vipRule, tagged, pricing, prefix, contains].map((r) => r.id);
    const re = await http('PUT', '/api/v1/routing/rule-order', {
      cookie: admin.cookie,
      body: { channelId: s.site, ruleIds: order },
    });
    expect(re.statusCode, re.body).toBe(200);
    expect(re.json<{ rules: Rule[] }>().rules.map((r) => r.id)).toEqual(order);
    expect((await d.decide(both)).ruleId).toBe(english.id);
    const listed = await http('GET', `/api/v1/routing/rules?channelId=${s.site}`, { cookie: admin.cookie });
    expect(listed.json<{ rules: Rule[] }>().rules.map((r) => r.id)).toEqual(order);
  });

  it('an empty condition list is a catch-all; no match falls back to the website default team', async () => {
    const s = await setup;
    const site = await website();
    const d = t.container.routingRules;
    expect(await d.decide(input(site))).toEqual({
      teamId: null,
      priority: 'normal',
      preferredAgentId: null,
      ruleId: null,
    });
    const set = await http('PUT', `/api/v1/routing/websites/${site}/default-team`, {
      cookie: admin.cookie,
      body: { teamId: s.sales },
    });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toMatchObject({ channelId: site, defaultTeamId: s.sales });
    const english = await createRule({
      channelId: site,
      name: 'en',
      conditions: [{ type: 'language', values: ['en'] }],
      teamId: s.english,
      priority: 'low',
    });
    expect(await d.decide(input(site, { language: 'zh-CN' }))).toEqual({
      teamId: s.sales,
      priority: 'normal',
      preferredAgentId: null,
      ruleId: null,
    });
    const test = await http('POST', '/api/v1/routing/test', {
      cookie: admin.cookie,
      body: { channelId: site },
    });
    expect(test.json()).toMatchObject({ usedDefault: true, target: { teamId: s.sales, ruleId: null } });
    const all = await createRule({
      channelId: site,
      name: '兜底',
      conditions: [],
      teamId: s.billing,
      priority: 'low',
    });
    expect((await d.decide(input(site, { language: 'zh-CN' }))).ruleId).toBe(all.id);
    expect((await d.decide(input(site, { language: 'en' }))).ruleId).toBe(english.id);
    const websites = await http('GET', '/api/v1/routing/websites', { cookie: admin.cookie });
    expect(
      websites.json<{ websites: { channelId: string; defaultTeamId: string | null }[] }>().websites,
    ).toContainEqual(expect.objectContaining({ channelId: site, defaultTeamId: s.sales }));
    // Rules of another website never apply.
    expect((await d.decide(input(s.site, { language: 'zh-CN' }))).ruleId).not.toBe(all.id);
  });

  it('writes an audit record with every change, in the same transaction', async () => {
    const s = await setup;
    const site = await website();
    const rule = await createRule({
      channelId: site,
      name: 'audit me',
      conditions: [{ type: 'keywords', values: ['发票'] }],
      teamId: s.billing,
      priority: 'normal',
    });
    await http('PATCH', `/api/v1/routing/rules/${rule.id}`, {
      cookie: admin.cookie,
      body: { priority: 'urgent' },
    });
    await http('PUT', '/api/v1/routing/rule-order', {
      cookie: admin.cookie,
      body: { channelId: site, ruleIds: [rule.id] },
    });
    await http('PUT', `/api/v1/routing/websites/${site}/default-team`, {
      cookie: admin.cookie,
      body: { teamId: s.billing },
    });
    const del = await http('DELETE', `/api/v1/routing/rules/${rule.id}`, { cookie: admin.cookie });
    expect(del.statusCode).toBe(204);
    const rows = await t.container.db
      .selectFrom('audit_log')
      .select(['action', 'target_id', 'actor_name', 'details'])
      .where((eb) => eb.or([eb('target_id', '=', rule.id), eb('target_id', '=', site)]))
      .where('action', 'like', 'routing%')
      .orderBy('seq')
      .execute();
    expect(rows.map((r) => r.action)).toEqual([
      'routing_rule.create',
      'routing_rule.update',
      'routing_rule.reorder',
      'routing.default_team.set',
      'routing_rule.delete',
    ]);
    expect(rows.every((r) => r.actor_name === admin.username)).toBe(true);
    expect(rows[1]!.details).toMatchObject({ changes: { priority: { from: 'normal', to: 'urgent' } } });
    // A refused change writes nothing (the audit record and the row share the transaction).
    const refused = await http('PATCH', `/api/v1/routing/rules/${rule.id}`, {
      cookie: admin.cookie,
      body: { teamId: randomUUID() },
    });
    expect(refused.statusCode).toBe(404); // the rule is gone
    const recreated = await http('POST', '/api/v1/routing/rules', {
      cookie: admin.cookie,
      body: { channelId: site, name: 'x', conditions: [], teamId: randomUUID(), priority: 'low' },
    });
    expect(recreated.statusCode).toBe(400);
    const after = await t.container.db
      .selectFrom('audit_log')
      .select('seq')
      .where('target_type', '=', 'routing_rule')
      .where('details', '@>', JSON.stringify({ channelId: site }))
      .execute();
    // create, update, delete (the reorder and the default team are recorded against the website)
    expect(after.length).toBe(3);
  });
});

describe('routing rules: bad input', () => {
  it('names the field and saves nothing', async () => {
    const site = await website();
    const teamId = await team('坏输入');
    const otherTeam = await team('别的组');
    const outsider = await signIn(t, 'agent', { teamIds: [otherTeam] });
    const deleted = await team('已删除');
    expect((await http('DELETE', `/api/v1/teams/${deleted}`, { cookie: admin.cookie })).statusCode).toBe(204);
    const base = { channelId: site, name: 'r', conditions: [], teamId, priority: 'normal' };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, teamId: randomUUID() }, 'teamId'],
      [{ ...base, teamId: deleted }, 'teamId'],
      [{ ...base, preferredAgentId: outsider.userId }, 'preferredAgentId'],
      [{ ...base, channelId: randomUUID() }, 'channelId'],
      [{ ...base, priority: 'asap' }, 'priority'],
      [{ ...base, name: '   ' }, 'name'],
      [{ ...base, colour: 'red' }, 'colour'],
      [{ ...base, conditions: [{ type: 'keywords' }] }, 'conditions.0.values'],
      [{ ...base, conditions: [{ type: 'keywords', values: ['退款'], key: 'x' }] }, 'conditions.0.key'],
      [{ ...base, conditions: [{ type: 'pageUrl', value: '/a' }] }, 'conditions.0.op'],
      [{ ...base, conditions: [{ type: 'pageUrl', op: 'regex', value: '/a' }] }, 'conditions.0.op'],
      [{ ...base, conditions: [{ type: 'language', values: ['zh_CN!'] }] }, 'conditions.0.values.0'],
      [{ ...base, conditions: [{ type: 'tags', values: ['  '] }] }, 'conditions.0.values.0'],
      [{ ...base, conditions: [{ type: 'attribute', value: true }] }, 'conditions.0.key'],
      [{ ...base, conditions: [{ type: 'weather', values: ['sunny'] }] }, 'conditions.0.type'],
      [{ ...base, conditions: [{ type: 'tags', values: ['a'], extra: 1 }] }, 'conditions.0.extra'],
    ];
    for (const [body, field] of cases) {
      const res = await http('POST', '/api/v1/routing/rules', { cookie: admin.cookie, body });
      expect(res.statusCode, `${field}: ${res.body}`).toBe(400);
      const err = res.json<ErrorBody>().error;
      expect(err.message, field).toContain(field);
      expect(err.field, err.message).toBe(field);
    }
    expect(
      (await http('GET', `/api/v1/routing/rules?channelId=${site}`, { cookie: admin.cookie })).json(),
    ).toEqual({
      rules: [],
    });
    // Updates are checked the same way and leave the rule as it was.
    const rule = await createRule(base);
    const patch = await http('PATCH', `/api/v1/routing/rules/${rule.id}`, {
      cookie: admin.cookie,
      body: { teamId: deleted },
    });
    expect(patch.statusCode).toBe(400);
    expect(patch.json<ErrorBody>().error.field).toBe('teamId');
    const reorder = await http('PUT', '/api/v1/routing/rule-order', {
      cookie: admin.cookie,
      body: { channelId: site, ruleIds: [rule.id, rule.id] },
    });
    expect(reorder.statusCode).toBe(400);
    expect(reorder.json<ErrorBody>().error.field).toBe('ruleIds');
    const defaultTeam = await http('PUT', `/api/v1/routing/websites/${site}/default-team`, {
      cookie: admin.cookie,
      body: { teamId: deleted },
    });
    expect(defaultTeam.json<ErrorBody>().error.field).toBe('teamId');
    const stored = await t.container.db
      .selectFrom('routing_rules')
      .select(['team_id', 'position'])
      .where('channel_id', '=', site)
      .execute();
    expect(stored).toEqual([{ team_id: teamId, position: 1 }]);
  });

  it('a team that rules or a website default use cannot be deleted; the refusal lists what uses it', async () => {
    const site = await website();
    const teamId = await team('在用');
    const rule = await createRule({
      channelId: site,
      name: '退款规则',
      conditions: [],
      teamId,
      priority: 'normal',
    });
    await http('PUT', `/api/v1/routing/websites/${site}/default-team`, {
      cookie: admin.cookie,
      body: { teamId },
    });
    const refused = await http('DELETE', `/api/v1/teams/${teamId}`, { cookie: admin.cookie });
    expect(refused.statusCode, refused.body).toBe(409);
    const err = refused.json<ErrorBody>().error;
    expect(err.message).toContain('退款规则');
    expect(err.details?.usedBy).toEqual([
      { kind: 'routing_rule', id: rule.id, name: '退款规则' },
      { kind: 'website_default_team', id: site, name: expect.any(String) },
    ]);
    expect((await http('GET', `/api/v1/teams/${teamId}`, { cookie: admin.cookie })).statusCode).toBe(200);
    // Move both away: then it goes.
    const other = await team('接手');
    await http('PATCH', `/api/v1/routing/rules/${rule.id}`, {
      cookie: admin.cookie,
      body: { teamId: other },
    });
    await http('PUT', `/api/v1/routing/websites/${site}/default-team`, {
      cookie: admin.cookie,
      body: { teamId: null },
    });
    expect((await http('DELETE', `/api/v1/teams/${teamId}`, { cookie: admin.cookie })).statusCode).toBe(204);
  });

  it('counts no rule from refused requests', async () => {
    const n = await ruleCount();
    await http('POST', '/api/v1/routing/rules', { cookie: admin.cookie, body: { name: 'x' } });
    expect(await ruleCount()).toBe(n);
  });
});

describe('routing rules: who may do what', () => {
  it('admins manage; supervisors read and test; agents and auditors neither', async () => {
    const site = await website();
    const teamId = await team('权限');
    const body = { channelId: site, name: 'p', conditions: [], teamId, priority: 'normal' };
    const sup = await signIn(t, 'supervisor');
    const agent = await signIn(t, 'agent');
    const auditor = await signIn(t, 'auditor');
    expect((await http('GET', '/api/v1/routing/rules', { cookie: sup.cookie })).statusCode).toBe(200);
    expect((await http('GET', '/api/v1/routing/websites', { cookie: sup.cookie })).statusCode).toBe(200);
    expect(
      (await http('POST', '/api/v1/routing/test', { cookie: sup.cookie, body: { channelId: site } }))
        .statusCode,
    ).toBe(200);
    expect((await http('POST', '/api/v1/routing/rules', { cookie: sup.cookie, body })).statusCode).toBe(403);
    for (const who of [agent, auditor]) {
      expect((await http('GET', '/api/v1/routing/rules', { cookie: who.cookie })).statusCode).toBe(403);
      expect((await http('POST', '/api/v1/routing/rules', { cookie: who.cookie, body })).statusCode).toBe(
        403,
      );
    }
    // The service checks again (a route mistake cannot widen access).
    await expect(
      t.container.routingRules.create(
        {
          userId: sup.userId,
          username: sup.username,
          displayName: 's',
          role: 'supervisor',
          teamIds: [],
          sessionId: 'x',
          ip: null,
          userAgent: null,
        },
        body as never,
      ),
    ).rejects.toMatchObject({ status: 403 });
  });
});

describe('the visitor language from the widget', () => {
  it('is kept with a new conversation when well-formed; a malformed one is a 400 naming the field', async () => {
    const session = await http('POST', '/api/v1/widget/session', { body: {} });
    const token = session.json<{ token: string }>().token;
    const bad = await http('POST', '/api/v1/widget/conversations', {
      token,
      body: { language: 'zh_CN; drop' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<ErrorBody>().error.field).toBe('language');
    const opened = await http('POST', '/api/v1/widget/conversations', { token, body: { language: 'zh-CN' } });
    expect(opened.statusCode, opened.body).toBe(200);
    const id = opened.json<{ id: string }>().id;
    expect(await t.container.routingRules.languageOf(id)).toBe('zh-CN');
    // An earlier widget sends no body: no language, nothing stored.
    const other = await http('POST', '/api/v1/widget/session', { body: {} });
    const plain = await http('POST', '/api/v1/widget/conversations', {
      token: other.json<{ token: string }>().token,
    });
    expect(await t.container.routingRules.languageOf(plain.json<{ id: string }>().id)).toBeNull();
  });
});

describe('two replicas on one database', () => {
  it('a change on one is in the other replica’s decisions within a second (LISTEN/NOTIFY)', async () => {
    await t.container.bridge!.start();
    await other.container.bridge!.start();
    try {
      await refreshedWithinASecond();
    } finally {
      await other.container.bridge!.stop();
      await t.container.bridge!.stop();
    }
  });
});

/** Body of the two-replica test: a change made through `t` shows in `other`'s decisions. */
async function refreshedWithinASecond() {
  const site = await website();
  const first = await team('一');
  const second = await team('二');
  const probe = input(site, { firstMessage: '发票' });
  // The other replica has its cache loaded (nothing matches yet).
  expect((await other.container.routingRules.decide(probe)).ruleId).toBeNull();
  const loadsBefore = other.container.routingRules.cacheStats().reloads;

  const deadline = async (want: (r: { teamId: string | null; ruleId: string | null }) => boolean) => {
    const started = Date.now();
    for (;;) {
      const got = await other.container.routingRules.decide(probe);
      if (want(got)) return Date.now() - started;
      if (Date.now() - started > 1000) throw new Error(`not refreshed within 1 s: ${JSON.stringify(got)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const rule = await createRule({
    channelId: site,
    name: '发票',
    conditions: [{ type: 'keywords', values: ['发票'] }],
    teamId: first,
    priority: 'high',
  });
  expect(await deadline((r) => r.ruleId === rule.id && r.teamId === first)).toBeLessThan(1000);
  await http('PATCH', `/api/v1/routing/rules/${rule.id}`, {
    cookie: admin.cookie,
    body: { teamId: second },
  });
  expect(await deadline((r) => r.teamId === second)).toBeLessThan(1000);
  await http('PUT', `/api/v1/routing/websites/${site}/default-team`, {
    cookie: admin.cookie,
    body: { teamId: first },
  });
  await http('DELETE', `/api/v1/routing/rules/${rule.id}`, { cookie: admin.cookie });
  expect(await deadline((r) => r.ruleId === null && r.teamId === first)).toBeLessThan(1000);
  // It was the notice, not the 30-second safety reload.
  expect(other.container.routingRules.cacheStats().reloads).toBeGreaterThan(loadsBefore);
}
