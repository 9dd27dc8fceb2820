import { describe, expect, it } from 'vitest';
import { createKeyRing, generateKey } from '../../src/platform/crypto/keyring.ts';
import {
  findSensitive,
  isBankCard,
  isPrcIdCard,
  maskAddress,
  maskEmail,
  maskName,
  maskPhone,
  maskTranscript,
  normalisePhone,
} from '../../src/platform/crypto/pii.ts';
import {
  base32Decode,
  base32Encode,
  hotp,
  matchTotp,
  newRecoveryCodes,
} from '../../src/platform/crypto/totp.ts';

const k1 = generateKey();
const k2 = generateKey();
const lookup = generateKey();

describe('key ring', () => {
  it('round-trips text (Chinese included) and never stores the plaintext', () => {
    const ring = createKeyRing(`a:${k1}`, lookup);
    const ct = ring.encrypt('张三 13812341234', 'contacts.phone:1');
    expect(ct).toMatch(/^pe1:a:/);
    expect(ct).not.toContain('1381234');
    expect(ring.decrypt(ct, 'contacts.phone:1')).toBe('张三 13812341234');
    expect(ring.encrypt('x')).not.toBe(ring.encrypt('x')); // fresh IV each time
  });

  it('refuses altered ciphertext and ciphertext moved to another row (context)', () => {
    const ring = createKeyRing(`a:${k1}`, lookup);
    const ct = ring.encrypt('secret', 'contacts.email:1');
    expect(() => ring.decrypt(ct, 'contacts.email:2')).toThrow(/does not decrypt/);
    const last = ct.at(-2) === 'A' ? 'B' : 'A';
    expect(() => ring.decrypt(ct.slice(0, -2) + last + ct.at(-1)!, 'contacts.email:1')).toThrow();
  });

  it('rotates: new key encrypts, old key still decrypts, needsRotation tells them apart', () => {
    const old = createKeyRing(`a:${k1}`, lookup);
    const ct = old.encrypt('value');
    const rotated = createKeyRing(`b:${k2},a:${k1}`, lookup);
    expect(rotated.decrypt(ct)).toBe('value');
    expect(rotated.needsRotation(ct)).toBe(true);
    const again = rotated.encrypt(rotated.decrypt(ct));
    expect(rotated.keyIdOf(again)).toBe('b');
    expect(rotated.needsRotation(again)).toBe(false);
    expect(() => createKeyRing(`b:${k2}`, lookup).decrypt(ct)).toThrow(/key "a" is not in/);
  });

  it('lookup hashes are stable across key rotation, keyed, and distinct per kind', () => {
    const a = createKeyRing(`a:${k1}`, lookup);
    const b = createKeyRing(`b:${k2},a:${k1}`, lookup);
    expect(a.lookupHash('phone', '13812341234')).toBe(b.lookupHash('phone', '13812341234'));
    expect(a.lookupHash('phone', '13812341234')).not.toBe(a.lookupHash('email', '13812341234'));
    expect(createKeyRing(`a:${k1}`, generateKey()).lookupHash('phone', '13812341234')).not.toBe(
      a.lookupHash('phone', '13812341234'),
    );
  });
});

describe('masking and detectors', () => {
  it('masks the way the console shows it', () => {
    expect(maskPhone('13812341234')).toBe('138****1234');
    expect(maskEmail('zhang.san@example.com')).toBe('z***@example.com');
    expect(maskName('张三丰')).toBe('张**');
    expect(maskName('John Smith')).toBe('J***');
    expect(maskAddress('广东省深圳市南山区科技园')).toBe('广东省深圳市***');
    expect(normalisePhone('+86 138-1234-1234')).toBe('13812341234');
  });

  it('recognises PRC ID-card numbers by checksum and bank cards by Luhn', () => {
    expect(isPrcIdCard('11010519491231002X')).toBe(true);
    expect(isPrcIdCard('110105194912310021')).toBe(false);
    expect(isBankCard('6222021234567890128')).toBe(true); // Luhn-valid 19 digits
    expect(isBankCard('6222021234567890123')).toBe(false);
  });

  it('does not take timestamps or order numbers for cards or ID numbers, even when they pass the checksums', () => {
    // Luhn-valid, but a millisecond timestamp and a date-led order number: no card issuer prefix.
    expect(isBankCard('1732176000005')).toBe(false);
    expect(isBankCard('2024112100012344')).toBe(false);
    // Check digit right, but no such province (99) or no such day (30 February).
    expect(isPrcIdCard('440305199003071236')).toBe(true);
    expect(isPrcIdCard('990305199003071233')).toBe(false);
    expect(isPrcIdCard('440305199002301239')).toBe(false);
    const text = '订单 2024112100012344 于 1732176000005 创建，单号 990305199003071233';
    expect(maskTranscript(text)).toEqual({ masked: text, findings: [] });
  });

  it('masks phone, ID-card and bank-card numbers typed in chat, and nothing else', () => {
    const text =
      '我的手机 138 1234 1234，身份证11010519491231002X，卡号 6222 0212 3456 7890 128，订单号 20241121000123。';
    const { masked, findings } = maskTranscript(text);
    expect(findings.map((f) => f.kind)).toEqual(['phone', 'id_card', 'bank_card']);
    expect(masked).toBe(
      '我的手机 138****1234，身份证110***********002X，卡号 ***************0128，订单号 20241121000123。',
    );
    expect(findSensitive('order 20241121000123 total 1234567')).toEqual([]);
  });
});

describe('TOTP', () => {
  const rfcSecret = Buffer.from('12345678901234567890');
  it('matches RFC 4226 HOTP and RFC 6238 TOTP test vectors', () => {
    expect([0, 1, 2, 3, 4].map((c) => hotp(rfcSecret, c))).toEqual([
      '755224',
      '287082',
      '359152',
      '969429',
      '338314',
    ]);
    // RFC 6238 Appendix B (SHA-1, 8 digits)
    expect(hotp(rfcSecret, Math.floor(59 / 30), 8)).toBe('94287082');
    expect(hotp(rfcSecret, Math.floor(1111111109 / 30), 8)).toBe('07081804');
    expect(hotp(rfcSecret, Math.floor(1234567890 / 30), 8)).toBe('89005924');
    expect(hotp(rfcSecret, Math.floor(20000000000 / 30), 8)).toBe('65353130');
  });

  it('accepts one step of drift, not more', () => {
    const t0 = 1_700_000_000_000;
    const code = hotp(rfcSecret, Math.floor(t0 / 30000));
    expect(matchTotp(rfcSecret, code, t0)).toBe(Math.floor(t0 / 30000));
    expect(matchTotp(rfcSecret, code, t0 + 30_000)).not.toBeNull();
    expect(matchTotp(rfcSecret, code, t0 + 90_000)).toBeNull();
    expect(matchTotp(rfcSecret, '12345', t0)).toBeNull();
  });

  it('base32 round-trips and recovery codes are distinct', () => {
    expect(base32Encode(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(base32Decode('MZXW6YTBOI').toString()).toBe('foobar');
    const codes = newRecoveryCodes();
    expect(new Set(codes).size).toBe(10);
    expect(codes[0]).toMatch(/^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{2}$/);
  });
});
