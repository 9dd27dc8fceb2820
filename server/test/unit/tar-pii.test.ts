import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTar } from '../../src/platform/archive/tar.ts';
import { createKeyRing, generateKey } from '../../src/platform/crypto/keyring.ts';
import { createPiiProtector, isCiphertext } from '../../src/platform/crypto/pii-protector.ts';

describe('tar archives', () => {
  it('are read back by the system tar, UTF-8 and long names included', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'parley-tar-'));
    const long = `attachments/${'很长的文件名'.repeat(12)}.txt`;
    const tar = createTar([
      { name: 'contact.json', data: Buffer.from('{"name":"张三"}') },
      { name: long, data: Buffer.from('hello') },
      { name: 'empty.bin', data: Buffer.alloc(0) },
    ]);
    expect(tar.length % 512).toBe(0);
    writeFileSync(path.join(dir, 'a.tar'), tar);
    execFileSync('tar', ['-xf', 'a.tar'], { cwd: dir });
    expect(readFileSync(path.join(dir, 'contact.json'), 'utf8')).toBe('{"name":"张三"}');
    expect(readFileSync(path.join(dir, long), 'utf8')).toBe('hello');
    expect(execFileSync('tar', ['-tf', 'a.tar'], { cwd: dir, encoding: 'utf8' }).split('\n')).toContain(long);
  });
});

describe('PII protector', () => {
  const ring = createKeyRing(`k1:${generateKey()}`, generateKey());
  it('seals with a key ring, opens by context, and reads legacy plaintext as is', () => {
    const p = createPiiProtector(ring);
    const sealed = p.seal('contacts.phone:1', '13812341234')!;
    expect(isCiphertext(sealed)).toBe(true);
    expect(p.open('contacts.phone:1', sealed)).toBe('13812341234');
    expect(() => p.open('contacts.phone:2', sealed)).toThrow();
    expect(p.open('contacts.phone:1', 'plain legacy')).toBe('plain legacy');
    expect(p.seal('x', null)).toBeNull();
  });
  it('looks up by normalised phone and email', () => {
    const p = createPiiProtector(ring);
    expect(p.lookup('phone', '+86 138-1234-1234')).toBe(p.lookup('phone', '13812341234'));
    expect(p.lookup('email', ' Zhang@Example.com')).toBe(p.lookup('email', 'zhang@example.com'));
    expect(p.lookup('email', 'zhang@example.com')).not.toBe(p.lookup('phone', 'zhang@example.com'));
  });
  it('without a key ring passes values through', () => {
    const p = createPiiProtector(null);
    expect(p.enabled).toBe(false);
    expect(p.seal('c', 'v')).toBe('v');
    expect(p.lookup('email', 'a@b.c')).toBeNull();
  });
});
