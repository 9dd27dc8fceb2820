import argon2 from 'argon2';
import { randomBytes, randomInt } from 'node:crypto';

// OWASP's argon2id baseline (m=19 MiB, t=2, p=1): strong, and cheap enough for a 2-core server
// to absorb a burst of logins.
const OPTIONS = { type: argon2.argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;

export const MIN_PASSWORD_LENGTH = 10;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, OPTIONS);
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

/** Used when the account does not exist, so a miss costs the same time as a hit. */
let dummyHash: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
  await verifyPassword(await dummyHash, password);
}

/** A readable one-time password: 20 characters from an alphabet without look-alikes. */
export function generatePassword(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  return Array.from({ length: 20 }, () => alphabet[randomInt(alphabet.length)]).join('');
}

export function checkPasswordPolicy(password: string, minLength = MIN_PASSWORD_LENGTH): string | null {
  if (password.length < minLength) return `must be at least ${minLength} characters`;
  if (password.length > 256) return 'must be at most 256 characters';
  return null;
}
