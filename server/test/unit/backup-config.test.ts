import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';

describe('backup settings', () => {
  it('defaults: daily at 02:30, verified, 7 daily + 4 weekly, under the data directory, not encrypted', () => {
    const c = loadConfig({ PARLEY_DATA_DIR: '/srv/parley' });
    expect(c.backupDir).toBe('/srv/parley/backups');
    expect(c.backupCron).toBe('30 2 * * *');
    expect(c.backupVerify).toBe(true);
    expect([c.backupKeepDaily, c.backupKeepWeekly, c.backupRpoHours]).toEqual([7, 4, 26]);
    expect(c.backupEncryptPublicKey).toBeUndefined();
    expect(loadConfig({ BACKUP_CRON: 'off' }).backupCron).toBeUndefined();
  });

  it('names a bad schedule, an unreadable key file and a key that is not an RSA public key', () => {
    expect(() => loadConfig({ BACKUP_CRON: 'every night' })).toThrow(
      /BACKUP_CRON: "every night" is not a cron expression/,
    );
    expect(() => loadConfig({ BACKUP_ENCRYPT_PUBLIC_KEY: '/nonexistent/key.pem' })).toThrow(
      /BACKUP_ENCRYPT_PUBLIC_KEY: cannot read the key file \/nonexistent\/key.pem: ENOENT/,
    );
    const dir = mkdtempSync(path.join(tmpdir(), 'parley-keys-'));
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(path.join(dir, 'ec.pem'), ec.publicKey.export({ type: 'spki', format: 'pem' }));
    expect(() => loadConfig({ BACKUP_ENCRYPT_PUBLIC_KEY: path.join(dir, 'ec.pem') })).toThrow(
      /BACKUP_ENCRYPT_PUBLIC_KEY: expected an RSA key, got ec/,
    );
    expect(() => loadConfig({ BACKUP_ENCRYPT_PUBLIC_KEY: 'not a key' })).toThrow(
      /BACKUP_ENCRYPT_PUBLIC_KEY: cannot read/,
    );
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(loadConfig({ BACKUP_ENCRYPT_PUBLIC_KEY: pem }).backupEncryptPublicKey).toBe(pem.trim());
    expect(() => loadConfig({ BACKUP_DECRYPT_PRIVATE_KEY: pem })).toThrow(
      /BACKUP_DECRYPT_PRIVATE_KEY: not a PEM private key/,
    );
  });
});
