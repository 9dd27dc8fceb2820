// Per-record MAC of the audit chain (issue 21, point 2). The key is held by the application only
// (PARLEY_AUDIT_MAC_KEYS, a Kubernetes Secret), never by the database, so a record inserted,
// edited or re-hashed by someone with database access alone has no valid MAC.
// Format, stored in audit_log.mac: "hmac-sha256:<key id>:<base64>" — the algorithm is named per
// record, so another one (e.g. HMAC-SM3) can be added without changing old records.
// The MAC covers "parley-audit-mac:v1:<seq>:<hash hex>"; the hash already covers every field
// and prev_hash, so the MAC binds the whole record and its place in the chain.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface AuditMacKeys {
  /** The key id new records are MAC'd with (the first in the list). */
  currentId: string;
  mac(seq: number, hash: Buffer): string;
  /** 'ok', 'bad' (wrong MAC, or malformed), or 'unknown-key' (a key id we do not hold). */
  check(seq: number, hash: Buffer | string, mac: string): 'ok' | 'bad' | 'unknown-key';
}

function message(seq: number, hash: Buffer | string): Buffer {
  const hex = typeof hash === 'string' ? hash : hash.toString('hex');
  return Buffer.from(`parley-audit-mac:v1:${seq}:${hex}`, 'utf8');
}

/** "id:base64,id2:base64" (already validated by the config parser). Undefined: no MACs. */
export function createAuditMacKeys(text: string | undefined): AuditMacKeys | null {
  if (!text) return null;
  const keys = new Map<string, Buffer>();
  for (const part of text.split(',')) {
    const i = part.indexOf(':');
    keys.set(part.slice(0, i).trim(), Buffer.from(part.slice(i + 1).trim(), 'base64'));
  }
  const currentId = [...keys.keys()][0]!;
  const compute = (key: Buffer, seq: number, hash: Buffer | string) =>
    createHmac('sha256', key).update(message(seq, hash)).digest();
  return {
    currentId,
    mac(seq, hash) {
      return `hmac-sha256:${currentId}:${compute(keys.get(currentId)!, seq, hash).toString('base64')}`;
    },
    check(seq, hash, mac) {
      const m = /^hmac-sha256:([A-Za-z0-9_-]{1,32}):([A-Za-z0-9+/=]+)$/.exec(mac);
      if (!m) return 'bad';
      const key = keys.get(m[1]!);
      if (!key) return 'unknown-key';
      const want = compute(key, seq, hash);
      const got = Buffer.from(m[2]!, 'base64');
      return got.length === want.length && timingSafeEqual(got, want) ? 'ok' : 'bad';
    },
  };
}
