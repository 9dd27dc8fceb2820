// Route × caller table: every route the app registers is called by nobody, by each role, by a
// visitor and by another visitor, and must answer the status that server/test/route-table.ts
// says. That table is written and reviewed by a person; it is not computed from the routes'
// declarations or from roleHas(), so a route declared with too weak a permission, or a widget
// route that forgets its visitor-token check, answers differently and fails here.
// A route that the app registers but the table lacks fails too (add its row: docs/TESTING.md).
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/modules/identity/identity.service.ts';
import { png } from '../support/png.ts';
import { createTestApp, signIn } from '../support/app.ts';
import { CALLERS, parseRouteTable, ROUTE_TABLE, type Caller, type RouteRow } from '../route-table.ts';

const widgetDist = path.resolve(import.meta.dirname, '../../../web/widget/dist');
const consoleDist = path.resolve(import.meta.dirname, '../../../web/console/dist');

// As in production: /metrics wants its token (PARLEY_METRICS_TOKEN), which no caller here has.
const t = await createTestApp({ PARLEY_METRICS_TOKEN: randomBytes(20).toString('hex') });
const ORIGIN = t.config.publicUrl;
const STAFF = ['admin', 'supervisor', 'agent', 'auditor'] as const;
type Staff = (typeof STAFF)[number];

/** What the calls refer to: one visitor's conversation, message and attachment, another visitor. */
interface Fixture {
  users: Map<Staff, string>;
  site: string;
  visitor: { token: string; conversationId: string; messageId: string; attachmentId: string };
  otherVisitor: { token: string };
}
let f: Fixture;

function multipartPng(): { payload: Buffer; contentType: string } {
  const boundary = `----parley${randomBytes(8).toString('hex')}`;
  const payload = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="pixel.png"\r\n` +
        `Content-Type: image/png\r\n\r\n`,
    ),
    png(2, 2),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { payload, contentType: `multipart/form-data; boundary=${boundary}` };
}

async function widgetCall(method: string, url: string, token: string, payload?: object) {
  const res = await t.app.inject({
    method: method as 'POST',
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload ? { payload } : {}),
  });
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
  return res.json<Record<string, string>>();
}

beforeAll(async () => {
  // The console and widget files are routes too (200 from the table): they must be built.
  for (const built of [path.join(widgetDist, 'frame.html'), path.join(consoleDist, 'index.html')]) {
    if (!existsSync(built))
      throw new Error(`${built} is missing: run "make build" (make test does it) first`);
  }
  const users = new Map<Staff, string>();
  for (const role of STAFF) users.set(role, (await signIn(t, role)).userId);
  const site = (
    await t.container.db
      .selectFrom('channels')
      .select('id')
      .where('type', '=', 'web_widget')
      .executeTakeFirstOrThrow()
  ).id;
  const session = async () => (await widgetCall('POST', '/api/v1/widget/session', 'none', {})).token!;
  const token = await session();
  const conversationId = (await widgetCall('POST', '/api/v1/widget/conversations', token)).id!;
  const sent = await widgetCall('POST', `/api/v1/widget/conversations/${conversationId}/messages`, token, {
    clientId: randomUUID(),
    text: '你好',
  });
  const upload = multipartPng();
  const uploaded = await t.app.inject({
    method: 'POST',
    url: `/api/v1/widget/conversations/${conversationId}/attachments?clientId=${randomUUID()}`,
    headers: { authorization: `Bearer ${token}`, 'content-type': upload.contentType },
    payload: upload.payload,
  });
  if (uploaded.statusCode !== 201) throw new Error(`upload: ${uploaded.statusCode} ${uploaded.body}`);
  const attachmentId = uploaded.json<{ message: { attachment: { id: string } } }>().message.attachment.id;
  f = {
    users,
    site,
    visitor: { token, conversationId, messageId: sent.messageId!, attachmentId },
    otherVisitor: { token: await session() },
  };
});

/**
 * How a route is called when the default (a random UUID for every path parameter, `{}` as the
 * body of a write) would not reach the check the table is about. Widget routes name the first
 * visitor's own objects, so "another visitor" asks for something that exists but is not theirs.
 */
interface Call {
  url?: () => string;
  body?: () => object;
  multipart?: boolean;
}
const asset = (dir: string) => readdirSync(path.join(widgetDist, dir)).find((n) => /\.(js|css)$/.test(n))!;
const CALLS: Record<string, Call> = {
  'GET /*': { url: () => '/inbox' },
  'GET /widget/frame': { url: () => `/widget/frame?site=${f.site}&origin=${encodeURIComponent(ORIGIN)}` },
  'GET /widget/assets/:file': { url: () => `/widget/assets/${asset('assets')}` },
  'GET /widget/demo/:file': { url: () => `/widget/demo/${asset('demo')}` },
  'GET /api/v1/contacts': { url: () => '/api/v1/contacts?q=' + encodeURIComponent('王') },
  'GET /api/v1/audit/export': { url: () => '/api/v1/audit/export?format=jsonl' },
  'GET /api/v1/widget/config': { url: () => `/api/v1/widget/config?site=${f.site}` },
  'POST /api/v1/widget/profile': { body: () => ({ consent: true, name: '王小明' }) },
  'GET /api/v1/widget/hours': { url: () => `/api/v1/widget/hours?site=${f.site}` },
  'POST /api/v1/widget/leave-message': {
    body: () => ({
      name: '王小明',
      phone: '13800000000',
      question: '发票怎么开',
      consent: true,
      clientId: randomUUID(),
    }),
  },
  'GET /api/v1/widget/conversations/:id/messages': {
    url: () => `/api/v1/widget/conversations/${f.visitor.conversationId}/messages`,
  },
  'POST /api/v1/widget/conversations/:id/messages': {
    url: () => `/api/v1/widget/conversations/${f.visitor.conversationId}/messages`,
    body: () => ({ clientId: randomUUID(), text: '请问发货了吗' }),
  },
  'POST /api/v1/widget/conversations/:id/attachments': {
    url: () =>
      `/api/v1/widget/conversations/${f.visitor.conversationId}/attachments?clientId=${randomUUID()}`,
    multipart: true,
  },
  'POST /api/v1/widget/conversations/:id/read': {
    url: () => `/api/v1/widget/conversations/${f.visitor.conversationId}/read`,
    body: () => ({ seq: 1 }),
  },
  'GET /api/v1/widget/attachments/:id': { url: () => `/api/v1/widget/attachments/${f.visitor.attachmentId}` },
  'POST /api/v1/widget/messages/:id/recall': {
    url: () => `/api/v1/widget/messages/${f.visitor.messageId}/recall`,
  },
};

/** A fresh session for the role's user, so routes that end sessions do not spoil the next call. */
async function cookieFor(role: Staff): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await t.container.db
    .insertInto('sessions')
    .values({
      token_hash: hashToken(token),
      user_id: f.users.get(role)!,
      expires_at: new Date(Date.now() + 3_600_000),
    })
    .execute();
  return `parley_session=${token}`;
}

const defaultUrl = (pattern: string) => pattern.replace(/:[A-Za-z]+/g, () => randomUUID());

let addressSeq = 0;

/** WebSocket routes are called with a real upgrade: 101 when the socket opens. */
const WEBSOCKET_ROUTES = new Set(['GET /api/v1/ws', 'GET /api/v1/widget/ws']);

async function upgrade(url: string, headers: Record<string, string>) {
  try {
    const ws = await t.app.injectWS(url, { headers });
    ws.terminate();
    return { statusCode: 101, headers: {}, rawPayload: Buffer.alloc(0), body: '' };
  } catch (err) {
    const status = /Unexpected server response: (\d+)/.exec((err as Error).message);
    if (!status) throw err;
    return { statusCode: Number(status[1]), headers: {}, rawPayload: Buffer.alloc(0), body: '' };
  }
}

async function callAs(method: string, pattern: string, caller: Caller) {
  const call = CALLS[`${method} ${pattern}`] ?? {};
  const headers: Record<string, string> = { origin: ORIGIN };
  if (caller === 'visitor') headers.authorization = `Bearer ${f.visitor.token}`;
  else if (caller === 'otherVisitor') headers.authorization = `Bearer ${f.otherVisitor.token}`;
  else if (caller !== 'anonymous' && caller !== 'apiTokenWithoutScope')
    headers.cookie = await cookieFor(caller);
  let payload: object | Buffer | undefined;
  if (call.multipart) {
    const m = multipartPng();
    headers['content-type'] = m.contentType;
    payload = m.payload;
  } else if (call.body) payload = call.body();
  else if (['POST', 'PUT', 'PATCH'].includes(method)) payload = {}; // never a valid body: changes nothing
  addressSeq++;
  if (WEBSOCKET_ROUTES.has(`${method} ${pattern}`))
    return upgrade(call.url?.() ?? defaultUrl(pattern), headers);
  return t.app.inject({
    method: method as 'GET',
    url: call.url?.() ?? defaultUrl(pattern),
    headers,
    // Each call from its own address: the per-IP rate limit of public routes never interferes.
    remoteAddress: `10.${(addressSeq >> 16) & 255}.${(addressSeq >> 8) & 255}.${addressSeq & 255}`,
    ...(payload !== undefined ? { payload } : {}),
  });
}

/** The start of a text answer, or what a binary one is. */
function bodyOf(res: {
  headers: Record<string, string | string[] | number | undefined>;
  rawPayload: Buffer;
  body: string;
}): string {
  const type = String(res.headers['content-type'] ?? '');
  return /json|text|html|javascript/.test(type)
    ? res.body.slice(0, 100)
    : `(${res.rawPayload.length} bytes of ${type || 'unknown type'})`;
}

/**
 * The order calls are made in: another visitor before the owner, so that what the owner's call
 * changes (a recalled message) cannot make the stranger's call fail for another reason.
 */
const CALL_ORDER: readonly Caller[] = ['anonymous', ...STAFF, 'otherVisitor', 'visitor'];

describe('route × caller table (server/test/route-table.ts)', () => {
  const registered = t.app.routeAccessTable.map((r) => `${r.method} ${r.url}`);
  const rows = parseRouteTable(ROUTE_TABLE);

  it('has exactly one row for every route the app registers, and no row for a route it does not', () => {
    const inTable = new Set(rows.map((r) => r.route));
    const missing = registered.filter((r) => !inTable.has(r));
    const stale = [...inTable].filter((r) => !registered.includes(r));
    expect(
      { missing, stale },
      'routes missing from server/test/route-table.ts need a row (docs/TESTING.md, "Adding a route"); stale rows must go',
    ).toEqual({ missing: [], stale: [] });
    expect(registered.length).toBeGreaterThan(80);
  });

  it('reserves the API-token column: no route is reachable by one yet', () => {
    // API tokens do not exist yet. When they land, each row gets the status for a token that
    // lacks the route's scope, and callAs() learns to send one.
    expect(rows.filter((r) => r.expected.apiTokenWithoutScope !== null).map((r) => r.route)).toEqual([]);
  });

  it('every route answers every caller with the status in its row', async () => {
    const mismatches: string[] = [];
    const byRoute = new Map<string, RouteRow>(rows.map((r) => [r.route, r]));
    for (const route of registered) {
      const row = byRoute.get(route);
      if (!row) continue; // reported by the first test
      const [method, pattern] = [route.slice(0, route.indexOf(' ')), route.slice(route.indexOf(' ') + 1)];
      for (const caller of CALL_ORDER) {
        const expected = row.expected[caller];
        if (expected === null) continue;
        const res = await callAs(method, pattern, caller);
        if (res.statusCode !== expected) {
          mismatches.push(
            `${route} as ${caller}: expected ${expected}, got ${res.statusCode} ${bodyOf(res)}`,
          );
        }
      }
    }
    expect(mismatches).toEqual([]);
    // Hundreds of calls (every route × every caller, growing with each module): on a loaded
    // machine this took longer than the default 30 s. The bound only matters when something hangs.
  }, 600_000);

  it('the table itself lists every caller for every row', () => {
    for (const row of rows) for (const c of CALLERS) expect(row.expected).toHaveProperty(c);
  });
});
