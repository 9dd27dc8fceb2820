// Route × role matrix: every route the app registers, called by nobody and by each role.
// What a route declares (config.access) is what the caller gets: 401 without a session, 403
// for a role without the permission, and neither for a role with it. A new route is covered
// automatically; a route whose guard does not match its declaration fails here.
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashToken } from '../../src/modules/identity/identity.service.ts';
import { ROLES, roleHas, type Role } from '../../src/modules/identity/permissions.ts';
import { createTestApp, signIn } from '../support/app.ts';

const t = await createTestApp();
const ORIGIN = 'http://localhost:8080';

const users = new Map<Role, string>();
for (const role of ROLES) users.set(role, (await signIn(t, role)).userId);

/** A fresh session for the role's user, so routes that end sessions do not spoil the next call. */
async function cookieFor(role: Role): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await t.container.db
    .insertInto('sessions')
    .values({
      token_hash: hashToken(token),
      user_id: users.get(role)!,
      expires_at: new Date(Date.now() + 3_600_000),
    })
    .execute();
  return `parley_session=${token}`;
}

function concreteUrl(url: string): string {
  return url.replace(/:[A-Za-z]+/g, () => randomUUID()).replace(/\*$/, 'x');
}

describe('route × role matrix', () => {
  const table = t.app.routeAccessTable.filter((r) => r.method !== 'HEAD');

  it('covers a meaningful number of routes, all with a declaration', () => {
    expect(table.length).toBeGreaterThan(20);
    expect(table.filter((r) => r.access === undefined)).toEqual([]);
  });

  it('each route answers each caller as its declared access says', async () => {
    const mismatches: string[] = [];
    for (const route of table) {
      const callers: (Role | null)[] = [null, ...ROLES];
      for (const role of callers) {
        const headers: Record<string, string> = { origin: ORIGIN };
        if (role) headers.cookie = await cookieFor(role);
        const res = await t.app.inject({
          method: route.method as 'GET',
          url: concreteUrl(route.url),
          headers,
          remoteAddress: '10.99.0.1',
          // an empty object: never a valid body for routes that take one, so nothing is changed
          ...(['POST', 'PUT', 'PATCH'].includes(route.method) ? { payload: {} } : {}),
        });
        const access = route.access!;
        let expected: 'denied-401' | 'denied-403' | 'allowed';
        if (access === 'public') expected = 'allowed';
        else if (role === null) expected = 'denied-401';
        else if (access === 'authenticated' || roleHas(role, access)) expected = 'allowed';
        else expected = 'denied-403';
        const got = res.statusCode === 401 ? 'denied-401' : res.statusCode === 403 ? 'denied-403' : 'allowed';
        // A public sign-in route may answer 401 (wrong password): that is its job, not a guard.
        const ok = expected === got || (access === 'public' && got === 'denied-401');
        if (!ok) {
          mismatches.push(
            `${route.method} ${route.url} as ${role ?? 'nobody'}: expected ${expected}, got ${res.statusCode} ${res.body.slice(0, 120)}`,
          );
        }
        // (the console route answers 503 in a checkout where web/console was not built)
        const consoleNotBuilt = route.url === '/*' && res.statusCode === 503;
        if (res.statusCode >= 500 && !consoleNotBuilt)
          mismatches.push(`${route.method} ${route.url} as ${role}: ${res.statusCode}`);
      }
    }
    expect(mismatches).toEqual([]);
  });
});
