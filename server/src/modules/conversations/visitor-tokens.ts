// Anonymous visitor tokens: "pv1.<payload>.<HMAC-SHA256>", long-lived, naming the contact and
// channel. The key is PARLEY_VISITOR_TOKEN_SECRET, or one generated once and kept in the
// database (app_secrets) so every replica signs and verifies alike.
// Identity verification: the customer's site computes HMAC-SHA256(user_id, channel secret).
import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Database } from '../../platform/db/database.ts';

export interface VisitorIdentity {
  contactId: string;
  channelId: string;
}

const SECRET_NAME = 'visitor_token_key';

export function createVisitorTokens(deps: { db: Database; configuredSecret: string | undefined }) {
  // A KeyObject made once: createHmac with a raw Buffer key builds a new key object per call,
  // which shows in the profile of a reconnect storm (every hello verifies a token).
  let key: Promise<KeyObject> | undefined;

  async function loadKey(): Promise<KeyObject> {
    if (deps.configuredSecret) return createSecretKey(Buffer.from(deps.configuredSecret, 'utf8'));
    await deps.db
      .insertInto('app_secrets')
      .values({ name: SECRET_NAME, value: randomBytes(32) })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const row = await deps.db
      .selectFrom('app_secrets')
      .select('value')
      .where('name', '=', SECRET_NAME)
      .executeTakeFirstOrThrow();
    return createSecretKey(row.value);
  }

  function getKey(): Promise<KeyObject> {
    key ??= loadKey().catch((err: unknown) => {
      key = undefined;
      throw err;
    });
    return key;
  }

  return {
    async sign(identity: VisitorIdentity): Promise<string> {
      const payload = Buffer.from(
        JSON.stringify({ c: identity.contactId, ch: identity.channelId, iat: Math.floor(Date.now() / 1000) }),
      ).toString('base64url');
      const mac = createHmac('sha256', await getKey())
        .update(`pv1.${payload}`)
        .digest('base64url');
      return `pv1.${payload}.${mac}`;
    },

    async verify(token: string): Promise<VisitorIdentity | null> {
      const parts = token.split('.');
      if (parts.length !== 3 || parts[0] !== 'pv1') return null;
      const expected = createHmac('sha256', await getKey())
        .update(`pv1.${parts[1]}`)
        .digest();
      const given = Buffer.from(parts[2]!, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
      try {
        const p = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as {
          c?: unknown;
          ch?: unknown;
        };
        if (typeof p.c !== 'string' || typeof p.ch !== 'string') return null;
        return { contactId: p.c, channelId: p.ch };
      } catch {
        return null;
      }
    },
  };
}

export type VisitorTokens = ReturnType<typeof createVisitorTokens>;

/** HMAC-SHA256(userId, secret) as hex, what the customer's site computes. */
export function identityHash(userId: string, secret: string): string {
  return createHmac('sha256', secret).update(userId, 'utf8').digest('hex');
}

export function identityHashMatches(userId: string, given: string, secret: string): boolean {
  const expected = Buffer.from(identityHash(userId, secret), 'hex');
  const g = /^[0-9a-f]{64}$/i.test(given) ? Buffer.from(given, 'hex') : Buffer.alloc(0);
  return g.length === expected.length && timingSafeEqual(g, expected);
}
