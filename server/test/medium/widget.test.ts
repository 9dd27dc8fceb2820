// The widget's server side: who may frame the chat (CSP frame-ancestors from the site's allowed
// origins), the loader served to any origin, admin widget settings (audited), the public
// config, and the pre-chat form's consent rule. Needs web/widget/dist (make build).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONSENT_NOTICE_VERSION } from '../../src/modules/widget/widget.service.ts';
import { createTestApp, httpClient, signIn } from '../support/app.ts';

const widgetDist = path.resolve(import.meta.dirname, '../../../web/widget/dist');
const t = await createTestApp({ PARLEY_PUBLIC_URL: 'https://chat.example.test' });
let admin: string;
let site: string;

beforeAll(async () => {
  if (!existsSync(path.join(widgetDist, 'frame.html')))
    throw new Error('web/widget/dist is missing: run "make build"');
  admin = (await signIn(t, 'admin')).cookie;
  site = (
    await t.container.db
      .selectFrom('channels')
      .select('id')
      .where('type', '=', 'web_widget')
      .executeTakeFirstOrThrow()
  ).id;
});

const frame = (origin: string, s = site) =>
  t.app.inject({ method: 'GET', url: `/widget/frame?site=${s}&origin=${encodeURIComponent(origin)}` });

describe('embedding the chat frame', () => {
  it('lets Parley’s own origin frame it, and nobody else until an admin allows them', async () => {
    const own = await frame('https://chat.example.test');
    expect(own.statusCode).toBe(200);
    expect(own.headers['content-security-policy']).toContain('frame-ancestors https://chat.example.test');
    expect(own.headers['x-frame-options']).toBeUndefined();
    expect(own.body).toMatch(/src="\/widget\/assets\/frame-[\w-]+\.js"/);

    const shop = await frame('https://shop.example.com');
    expect(shop.statusCode).toBe(403);
    expect(shop.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(shop.body).toContain('https://shop.example.com');

    // Every other page keeps the app-wide "never framed" policy.
    const other = await t.app.inject({ method: 'GET', url: '/demo' });
    expect(other.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('applies the allowed origins an admin sets, audited; refuses bad origins naming the field', async () => {
    const bad = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/channels/${site}/widget`,
      headers: { cookie: admin },
      payload: { allowedOrigins: ['https://shop.example.com/path'] },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toContain('allowedOrigins');

    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/channels/${site}/widget`,
      headers: { cookie: admin },
      payload: {
        allowedOrigins: ['https://Shop.example.com'],
        color: '#0a7a4b',
        greeting: '欢迎光临',
        preChatForm: true,
      },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ allowedOrigins: ['https://shop.example.com'], color: '#0a7a4b' });
    expect(res.json().snippet).toBe(
      `<script src="https://chat.example.test/widget.js" data-parley-site="${site}" async></script>`,
    );
    const audit = await t.container.db
      .selectFrom('audit_log')
      .select(['action', 'target_id'])
      .where('action', '=', 'channel.widget_settings.update')
      .execute();
    expect(audit).toEqual([{ action: 'channel.widget_settings.update', target_id: site }]);

    const shop = await frame('https://shop.example.com');
    expect(shop.statusCode).toBe(200);
    expect(shop.headers['content-security-policy']).toMatch(/frame-ancestors https:\/\/shop\.example\.com$/);
    expect((await frame('https://evil.example.com')).statusCode).toBe(403);

    // The public config shows the look, never the allowed origins.
    const config = await t.app.inject({ method: 'GET', url: `/api/v1/widget/config?site=${site}` });
    expect(config.json()).toEqual({
      siteKey: site,
      name: 'Website',
      color: '#0a7a4b',
      greeting: '欢迎光临',
      preChatForm: true,
    });
  });

  it('keeps widget settings to admins (channels.manage)', async () => {
    const agent = await signIn(t, 'agent');
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/channels/${site}/widget`,
      headers: { cookie: agent.cookie },
      payload: { allowedOrigins: ['https://evil.example.com'] },
    });
    expect(res.statusCode).toBe(403);
    expect((await frame('https://evil.example.com')).statusCode).toBe(403);
  });

  it('serves widget.js to any origin, briefly cached, and hashed assets immutably', async () => {
    const js = await t.app.inject({ method: 'GET', url: '/widget.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toContain('javascript');
    expect(js.headers['cross-origin-resource-policy']).toBe('cross-origin');
    expect(js.headers['cache-control']).toBe('public, max-age=300');
    const asset = /src="(\/widget\/assets\/[\w.-]+\.js)"/.exec(
      (await frame('https://chat.example.test')).body,
    )![1]!;
    const a = await t.app.inject({ method: 'GET', url: asset });
    expect(a.statusCode).toBe(200);
    expect(a.headers['cache-control']).toContain('immutable');
    expect(
      (await t.app.inject({ method: 'GET', url: '/widget/assets/..%2F..%2Fpackage.json' })).statusCode,
    ).toBe(400);
  });

  it('serves /demo embedding the snippet for the default site', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/demo' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain(
      `<script src="https://chat.example.test/widget.js" data-parley-site="${site}" async>`,
    );
    expect(res.headers['content-security-policy']).toContain('frame-src https://chat.example.test');
  });
});

describe('the pre-chat form', () => {
  async function visitor() {
    const s = await t.app.inject({
      method: 'POST',
      url: '/api/v1/widget/session',
      payload: { channelId: site },
    });
    expect(s.statusCode).toBe(200);
    return s.json<{ token: string; contactId: string }>();
  }

  it('stores name and phone only with explicit consent, recorded on the contact and audited', async () => {
    const v = await visitor();
    const auth = { authorization: `Bearer ${v.token}` };
    const refused = await t.app.inject({
      method: 'POST',
      url: '/api/v1/widget/profile',
      headers: auth,
      payload: { name: '王小明', phone: '+86 138 0000 0000', consent: false },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error.field).toBe('consent');
    let contact = await t.container.db
      .selectFrom('contacts')
      .selectAll()
      .where('id', '=', v.contactId)
      .executeTakeFirstOrThrow();
    expect(contact.phone).toBeNull();

    const ok = await t.app.inject({
      method: 'POST',
      url: '/api/v1/widget/profile',
      headers: auth,
      payload: { name: '王小明', phone: '+86 138 0000 0000', consent: true },
    });
    expect(ok.statusCode).toBe(200);
    contact = await t.container.db
      .selectFrom('contacts')
      .selectAll()
      .where('id', '=', v.contactId)
      .executeTakeFirstOrThrow();
    expect(contact).toMatchObject({ name: '王小明', phone: '+86 138 0000 0000' });
    expect((contact.attributes as Record<string, unknown>).dataProcessingConsent).toMatchObject({
      channelId: site,
      version: CONSENT_NOTICE_VERSION,
    });
    const audit = await t.container.db
      .selectFrom('audit_log')
      .select(['action', 'details'])
      .where('target_id', '=', v.contactId)
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]!.action).toBe('contact.consent');
    // PII stays out of the audit details.
    expect(JSON.stringify(audit[0]!.details)).not.toContain('138');
  });

  it('shows the consent apart from the custom attributes, and nobody can edit or delete it', async () => {
    const v = await visitor();
    const inject = httpClient(t);
    // This file's public URL is https://chat.example.test: the CSRF check wants that origin.
    const http = (
      method: string,
      url: string,
      opts: { cookie?: string; token?: string; body?: unknown } = {},
    ) =>
      opts.cookie
        ? t.app.inject({
            method: method as 'GET',
            url,
            headers: { cookie: opts.cookie, origin: 'https://chat.example.test' },
            ...(opts.body !== undefined ? { payload: opts.body as object } : {}),
          })
        : inject(method, url, opts);
    expect(
      (
        await http('POST', '/api/v1/widget/profile', {
          token: v.token,
          body: { name: '李雷', consent: true },
        })
      ).statusCode,
    ).toBe(200);
    // A conversation, so agents see this contact.
    expect((await http('POST', '/api/v1/widget/conversations', { token: v.token })).statusCode).toBeLessThan(
      300,
    );
    const url = `/api/v1/contacts/${v.contactId}`;
    const storedConsent = async () =>
      (
        (
          await t.container.db
            .selectFrom('contacts')
            .select('attributes')
            .where('id', '=', v.contactId)
            .executeTakeFirstOrThrow()
        ).attributes as Record<string, unknown>
      ).dataProcessingConsent;
    const before = await storedConsent();
    expect(before).toBeTruthy();

    for (const role of ['agent', 'supervisor', 'admin'] as const) {
      const { cookie } = await signIn(t, role);
      const shown = (await http('GET', url, { cookie })).json<{
        attributes: Record<string, unknown>;
        consent: { at: string; channelId: string; version: string } | null;
      }>();
      expect(shown.attributes).not.toHaveProperty('dataProcessingConsent');
      expect(shown.consent).toMatchObject({ channelId: site, version: CONSENT_NOTICE_VERSION });
      for (const body of [
        { setAttributes: { dataProcessingConsent: null } },
        { setAttributes: { dataProcessingConsent: { at: '2020-01-01T00:00:00Z' } } },
        { attributes: { dataProcessingConsent: false } },
      ]) {
        const res = await http('PATCH', url, { cookie, body });
        expect(res.statusCode, `${role} ${JSON.stringify(body)}`).toBe(403);
        expect(res.json().error.code).toBe('consent_read_only');
        expect(res.json().error.message).toContain('dataProcessingConsent');
      }
      // Replacing the custom attributes (which do not show the consent) keeps it.
      const replaced = await http('PATCH', url, { cookie, body: { attributes: { 会员等级: '金卡' } } });
      expect(replaced.statusCode).toBe(200);
      expect(replaced.json().consent).toMatchObject({ channelId: site });
      expect(await storedConsent()).toEqual(before);
    }
  });

  it('needs a visitor token and validates the phone', async () => {
    expect(
      (await t.app.inject({ method: 'POST', url: '/api/v1/widget/profile', payload: { consent: true } }))
        .statusCode,
    ).toBe(401);
    const v = await visitor();
    const bad = await t.app.inject({
      method: 'POST',
      url: '/api/v1/widget/profile',
      headers: { authorization: `Bearer ${v.token}` },
      payload: { phone: '<script>', consent: true },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toContain('phone');
  });
});
