// Issue 21, point 8: transcript masking leaks nothing, whatever the formatting. Property-based
// (fast-check): random messages with one to four phone, ID-card and bank-card numbers, typed
// with spaces, dashes, +86 / 0086, full-width digits, touching letters or Chinese.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findSensitive, maskPhone, maskTranscript } from '../../src/platform/crypto/pii.ts';
import { digitsOf, message, phone } from '../support/sensitive-numbers.ts';

describe('transcript masking (property-based)', () => {
  it('no number embedded in a message survives masking', () => {
    fc.assert(
      fc.property(message, ({ text, numbers }) => {
        const { masked, findings } = maskTranscript(text);
        const left = digitsOf(masked);
        for (const n of numbers) {
          expect(
            left,
            `${n.kind} ${n.value} survived in ${JSON.stringify(masked)} (from ${JSON.stringify(text)})`,
          ).not.toContain(n.value);
        }
        expect(findings.length).toBe(numbers.length);
      }),
      { numRuns: 3000 },
    );
  });

  it('the examples the issue names', () => {
    for (const [text, want] of [
      ['TEL13912345678', 'TEL139****5678'],
      ['电话13912345678', '电话139****5678'],
      ['139-1234-5678', '139****5678'],
      ['+86 139 1234 5678', '139****5678'],
      ['１３９１２３４５６７８', '139****5678'],
      ['两个号码13912345678和13812345678', '两个号码139****5678和138****5678'],
      ['13912345678 6222021234567890128', '139****5678 ***************0128'],
      ['身份证11010519491231002x', '身份证110***********002x'],
    ] as const) {
      expect(maskTranscript(text).masked, text).toBe(want);
    }
    // Still not masked: timestamps, order numbers, a number glued to more digits.
    expect(findSensitive('order 20241121000123 at 1732176000005')).toEqual([]);
    expect(findSensitive('139123456789')).toEqual([]);
  });
});

describe('the contact phone mask', () => {
  it('shows at most the first 3 and the last 4 digits, whatever the formatting', () => {
    expect(maskPhone('+86 139-1234-5678')).toBe('139****5678');
    expect(maskPhone('0086 13912345678')).toBe('139****5678');
    expect(maskPhone('１３９ １２３４ ５６７８')).toBe('139****5678');
    fc.assert(
      fc.property(
        phone,
        fc.constantFrom('', '+86', '+86 ', '0086', '86-'),
        fc.constantFrom('', ' ', '-'),
        (p, country, sep) => {
          const typedPhone = country + (sep ? [p.slice(0, 3), p.slice(3, 7), p.slice(7)].join(sep) : p);
          const m = maskPhone(typedPhone);
          expect(m).toBe(`${p.slice(0, 3)}****${p.slice(-4)}`);
          expect(m.replace(/\D/g, '').length).toBeLessThanOrEqual(7);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('any string: never more than 7 digits show, and never more than the last 4 of the end', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const m = maskPhone(s);
        expect(m.replace(/\D/g, '').length).toBeLessThanOrEqual(7);
      }),
    );
  });
});
