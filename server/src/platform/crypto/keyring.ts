// The key ring for data at rest: AES-256-GCM with key ids (so keys rotate), and a keyed hash
// (HMAC-SHA-256) for exact lookups of encrypted values without decrypting.
//
// Ciphertext format (text, fits a `text` column): "pe1:<keyId>:<iv b64url>:<ciphertext+tag b64url>".
// The optional `context` (e.g. "contacts.phone:<contact id>") is bound as additional
// authenticated data, so a ciphertext copied to another row or column does not decrypt.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX = 'pe1';

export class KeyRingError extends Error {}

export interface KeyRing {
  /** Id of the key that encrypts new values. */
  activeKeyId: string;
  keyIds: readonly string[];
  encrypt(plaintext: string, context?: string): string;
  decrypt(ciphertext: string, context?: string): string;
  /** Key id a ciphertext was made with (null if it is not one of ours). */
  keyIdOf(ciphertext: string): string | null;
  /** True when the value is encrypted with a key other than the active one. */
  needsRotation(ciphertext: string): boolean;
  /** Keyed hash for exact lookup; `normalise` first (see normalisePhone / normaliseEmail). */
  lookupHash(kind: string, value: string): string;
}

export function parseKeyList(text: string): { id: string; key: Buffer }[] {
  return text.split(',').map((part) => {
    const [id, b64] = part.trim().split(':') as [string, string];
    const key = Buffer.from(b64, 'base64');
    if (!id || key.length !== 32) throw new KeyRingError(`key "${id}" must be 32 bytes`);
    return { id, key };
  });
}

export function createKeyRing(keysText: string, lookupKeyText: string): KeyRing {
  const keys = parseKeyList(keysText);
  const byId = new Map(keys.map((k) => [k.id, k.key]));
  const active = keys[0]!;
  const lookupKey = Buffer.from(lookupKeyText, 'base64');
  if (lookupKey.length < 32) throw new KeyRingError('the lookup key must be at least 32 bytes');

  function keyIdOf(ciphertext: string): string | null {
    const parts = ciphertext.split(':');
    return parts.length === 4 && parts[0] === PREFIX ? parts[1]! : null;
  }

  return {
    activeKeyId: active.id,
    keyIds: keys.map((k) => k.id),
    encrypt(plaintext, context = '') {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', active.key, iv);
      cipher.setAAD(Buffer.from(`${active.id}|${context}`, 'utf8'));
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${PREFIX}:${active.id}:${iv.toString('base64url')}:${ct.toString('base64url')}`;
    },
    decrypt(ciphertext, context = '') {
      const parts = ciphertext.split(':');
      if (parts.length !== 4 || parts[0] !== PREFIX) throw new KeyRingError('not an encrypted value');
      const [, keyId, ivText, ctText] = parts as [string, string, string, string];
      const key = byId.get(keyId);
      if (!key) throw new KeyRingError(`the key "${keyId}" is not in PARLEY_ENCRYPTION_KEYS`);
      const data = Buffer.from(ctText, 'base64url');
      if (data.length < 16) throw new KeyRingError('truncated ciphertext');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(ivText, 'base64url'));
      decipher.setAAD(Buffer.from(`${keyId}|${context}`, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - 16));
      try {
        return Buffer.concat([
          decipher.update(data.subarray(0, data.length - 16)),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        throw new KeyRingError('the value does not decrypt (altered, or the wrong row/column)');
      }
    },
    keyIdOf,
    needsRotation(ciphertext) {
      return keyIdOf(ciphertext) !== active.id;
    },
    lookupHash(kind, value) {
      return createHmac('sha256', lookupKey).update(`${kind}\0${value}`, 'utf8').digest('base64url');
    },
  };
}

/** Constant-time comparison of two lookup hashes. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function generateKey(): string {
  return randomBytes(32).toString('base64');
}
