// Part-of-a-name search while contact names are encrypted. Nothing searchable is stored
// (docs/SECURITY.md says why there is no blind index): a bounded window of recent rows is
// decrypted in memory and matched by substring, for the contact search and the conversation list
// alike. Older rows are found by exact email, phone or id.
import type { PiiProtector } from '../../platform/crypto/pii-protector.ts';
import { contactContext } from './contacts.repository.ts';

/** How many recent rows (contacts or conversations) a name search decrypts. */
export const NAME_SEARCH_WINDOW = 2000;
const NAME_CACHE_SIZE = 20_000;

/** The form both sides of a name match are compared in. */
export const normaliseName = (s: string): string => s.normalize('NFKC').toLowerCase();

/**
 * Decrypted, normalised contact names by ciphertext, so repeated searches do not decrypt the
 * whole window again (AES-GCM set-up costs tens of µs per value). Bounded; oldest entries go
 * first. A changed name is a new ciphertext (fresh IV), so entries never go stale.
 */
export function createNameMatcher(pii: PiiProtector) {
  const cache = new Map<string, string>();
  function searchableName(contactId: string, stored: string): string {
    const key = `${contactId}|${stored}`;
    let name = cache.get(key);
    if (name === undefined) {
      name = normaliseName(pii.open(contactContext('name', contactId), stored) ?? '');
      if (cache.size >= NAME_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(key, name);
    }
    return name;
  }
  return {
    /** Whether the stored (encrypted) name of the contact contains `needle` (normalised). */
    matches: (contactId: string, stored: string, needle: string) =>
      searchableName(contactId, stored).includes(needle),
  };
}
