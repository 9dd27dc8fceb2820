// Key rotation round trip: values written under the old key are re-encrypted in batches under
// the new one (resuming after an interruption), and everything stays readable.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { createContainer } from '../../src/container.ts';
import { generateKey } from '../../src/platform/crypto/keyring.ts';
import { base32Decode, totp } from '../../src/platform/crypto/totp.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { actorOf, createTestApp, signIn } from '../support/app.ts';

const oldKey = `old:${generateKey()}`;
const newKey = `new:${generateKey()}`;
const lookup = generateKey();
const t = await createTestApp({ PARLEY_ENCRYPTION_KEYS: oldKey, PARLEY_LOOKUP_KEY: lookup });

function containerWith(keys: string) {
  const config = loadConfig({
    DATABASE_URL: t.database.url,
    PARLEY_LOG_LEVEL: 'silent',
    PARLEY_ENCRYPTION_KEYS: keys,
    PARLEY_LOOKUP_KEY: lookup,
  });
  return createContainer({ config, db: t.container.db, logger: createLogger('silent') });
}

async function totpStatus(c: ReturnType<typeof containerWith>) {
  return (await c.keys.status()).find((s) => s.column === 'users.totp_secret_enc')!.byKey;
}

describe('parley keys rotate', () => {
  it('re-encrypts in batches, resumes, and leaves every value readable', async () => {
    const secrets = new Map<string, Buffer>();
    for (let i = 0; i < 5; i++) {
      const u = await signIn(t, 'agent');
      const setup = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/totp/setup',
        headers: { cookie: u.cookie },
      });
      const key = base32Decode(setup.json<{ secret: string }>().secret);
      const on = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/totp/enable',
        headers: { cookie: u.cookie },
        payload: { code: totp(key) },
      });
      expect(on.statusCode).toBe(200);
      secrets.set(u.userId, key);
    }
    const rotating = containerWith(`${newKey},${oldKey}`);
    expect(await totpStatus(rotating)).toEqual({ old: 5 });

    // Interrupted after two batches of two…
    const progress: number[] = [];
    const first = await rotating.keys.rotate({
      batchSize: 2,
      maxBatches: 2,
      onProgress: (p) => progress.push(p.remaining),
    });
    expect(first).toEqual({ rotated: 4, failed: 0, complete: false });
    expect(progress).toEqual([3, 1]);
    expect(await totpStatus(rotating)).toEqual({ new: 4, old: 1 });
    // …and resumed.
    expect(await rotating.keys.rotate({ batchSize: 2 })).toEqual({ rotated: 1, failed: 0, complete: true });
    expect(await totpStatus(rotating)).toEqual({ new: 5 });

    // With the old key removed, every secret still decrypts to what the user enrolled.
    const onlyNew = containerWith(newKey);
    const rows = await t.container.db.selectFrom('users').select(['id', 'totp_secret_enc']).execute();
    for (const [userId, key] of secrets) {
      const row = rows.find((r) => r.id === userId)!;
      expect(
        Buffer.from(onlyNew.keyRing!.decrypt(row.totp_secret_enc!, `users.totp:${userId}`), 'base64'),
      ).toEqual(key);
    }
    const audited = await t.container.db
      .selectFrom('audit_log')
      .select(['action', 'details'])
      .where('action', '=', 'keys.rotate')
      .execute();
    expect(audited).toHaveLength(2);
  });

  it('re-encrypts the originals of masked chat messages, which stay revealable with only the new key', async () => {
    const admin = await signIn(t, 'admin');
    const headers = { cookie: admin.cookie, origin: 'http://localhost:8080' };
    const on = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/security/settings',
      headers,
      payload: { transcriptMasking: true },
    });
    expect(on.statusCode, on.body).toBe(200);
    const session = await t.app.inject({ method: 'POST', url: '/api/v1/widget/session', payload: {} });
    const token = session.json<{ token: string }>().token;
    const auth = { authorization: `Bearer ${token}` };
    const conv = await t.app.inject({ method: 'POST', url: '/api/v1/widget/conversations', headers: auth });
    const conversationId = conv.json<{ id: string }>().id;
    const typed = new Map<string, string>();
    for (const phone of ['13900000001', '13900000002', '13900000003']) {
      const text = `请回电 ${phone}`;
      const sent = await t.app.inject({
        method: 'POST',
        url: `/api/v1/widget/conversations/${conversationId}/messages`,
        headers: auth,
        payload: { clientId: randomUUID(), text },
      });
      expect(sent.json<{ message: { masked: boolean } }>().message.masked).toBe(true);
      typed.set(sent.json<{ messageId: string }>().messageId, text);
    }
    const originalsStatus = async (c: ReturnType<typeof containerWith>) =>
      (await c.keys.status()).find((s) => s.column === 'message_originals.original_enc')!.byKey;

    const rotating = containerWith(`${newKey},${oldKey}`);
    expect(await originalsStatus(rotating)).toEqual({ old: 3 });
    expect(await rotating.keys.rotate({ batchSize: 2, maxBatches: 1 })).toEqual({
      rotated: 2,
      failed: 0,
      complete: false,
    });
    expect(await rotating.keys.rotate({ batchSize: 2 })).toEqual({ rotated: 1, failed: 0, complete: true });
    expect(await originalsStatus(rotating)).toEqual({ new: 3 });

    // With only the new key, every original opens again — through the audited reveal.
    const onlyNew = containerWith(newKey);
    for (const [messageId, text] of typed) {
      expect(await onlyNew.conversations.revealMessage(actorOf(admin), messageId)).toEqual({
        id: messageId,
        text,
      });
    }
  });
});
