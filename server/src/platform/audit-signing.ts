// Ed25519 signatures over the audit chain: checkpoints (seq, hash) and export manifests.
// Verification needs only the public key, so an auditor can check an export offline.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';

export interface AuditSigner {
  fingerprint: string;
  publicKeyPem: string;
  sign(message: Buffer): Buffer;
}

/** SHA-256 of the DER SubjectPublicKeyInfo, hex: names a key without revealing anything. */
export function publicKeyFingerprint(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

export function loadPrivateKey(text: string): KeyObject {
  const v = text.trim();
  return v.includes('-----BEGIN')
    ? createPrivateKey(v.replace(/\\n/g, '\n'))
    : createPrivateKey({ key: Buffer.from(v, 'base64'), format: 'der', type: 'pkcs8' });
}

/** Accepts a PEM public key, a PEM private key (its public half) or base64 SPKI DER. */
export function loadPublicKey(text: string): KeyObject {
  const v = text.trim();
  if (v.includes('PRIVATE KEY')) return createPublicKey(createPrivateKey(v));
  if (v.includes('-----BEGIN')) return createPublicKey(v);
  return createPublicKey({ key: Buffer.from(v, 'base64'), format: 'der', type: 'spki' });
}

export function createAuditSigner(privateKeyText: string | undefined): AuditSigner | null {
  if (!privateKeyText) return null;
  const privateKey = loadPrivateKey(privateKeyText);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('the audit signing key must be Ed25519');
  const publicKey = createPublicKey(privateKey);
  return {
    fingerprint: publicKeyFingerprint(publicKey),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (message) => sign(null, message, privateKey),
  };
}

export function verifySignature(publicKey: KeyObject, message: Buffer, signature: Buffer): boolean {
  try {
    return verify(null, message, publicKey, signature);
  } catch {
    return false;
  }
}

/** The exact bytes a checkpoint signature covers. */
export function checkpointMessage(cp: { seq: number; hash: Buffer | string; signedAt: string }): Buffer {
  const hex = typeof cp.hash === 'string' ? cp.hash : cp.hash.toString('hex');
  return Buffer.from(`parley-audit-checkpoint:v1:${cp.seq}:${hex}:${cp.signedAt}`, 'utf8');
}

export function generateSigningKeyPair(): {
  privateKeyPem: string;
  publicKeyPem: string;
  fingerprint: string;
} {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    fingerprint: publicKeyFingerprint(publicKey),
  };
}

/** The exact bytes an archive anchor's signature covers (audit_archives, migration 0029). */
export function archiveMessage(a: {
  firstSeq: number;
  lastSeq: number;
  lastHash: Buffer | string;
  fileName: string;
  fileSha256: string;
}): Buffer {
  const hex = typeof a.lastHash === 'string' ? a.lastHash : a.lastHash.toString('hex');
  return Buffer.from(
    `parley-audit-archive:v1:${a.firstSeq}:${a.lastSeq}:${hex}:${a.fileName}:${a.fileSha256}`,
    'utf8',
  );
}
