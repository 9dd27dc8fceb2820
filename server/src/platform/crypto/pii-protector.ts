// Personal data at rest, field by field: with a key ring configured, values are stored as
// key-ring ciphertext bound to their table, column and row ("contacts.phone:<id>"), and phone
// and email get a keyed hash for exact lookup. Without a key ring (the embedded trial), values
// stay as they are and `parley doctor` warns. Stored values that are not ciphertext (written
// before keys were configured) are read as they are, and `parley keys rotate` seals them.
import type { KeyRing } from './keyring.ts';
import { normaliseEmail, normalisePhone } from './pii.ts';

const CIPHERTEXT = /^pe1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$/;

export function isCiphertext(value: string): boolean {
  return CIPHERTEXT.test(value);
}

export interface PiiProtector {
  readonly enabled: boolean;
  seal(context: string, value: string | null): string | null;
  open(context: string, stored: string | null): string | null;
  /** Keyed hash of the normalised value (null without a key ring, or for an empty value). */
  lookup(kind: 'email' | 'phone', value: string | null): string | null;
}

export function createPiiProtector(keyRing: KeyRing | null): PiiProtector {
  return {
    enabled: keyRing !== null,
    seal(context, value) {
      if (value === null || !keyRing) return value;
      return keyRing.encrypt(value, context);
    },
    open(context, stored) {
      if (stored === null || !isCiphertext(stored)) return stored;
      if (!keyRing) throw new Error('encrypted personal data, but PARLEY_ENCRYPTION_KEYS is not set');
      return keyRing.decrypt(stored, context);
    },
    lookup(kind, value) {
      if (!keyRing || value === null) return null;
      const normal = kind === 'email' ? normaliseEmail(value) : normalisePhone(value);
      return normal === '' ? null : keyRing.lookupHash(kind, normal);
    },
  };
}
