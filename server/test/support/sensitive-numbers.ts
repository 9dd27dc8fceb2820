// fast-check generators for the numbers transcript masking must catch (issue 21, point 8):
// PRC mobile numbers, resident ID-card numbers and bank-card numbers, valid by their own rules,
// typed in every way people type them, embedded in Chinese and English text.
import fc from 'fast-check';

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';
const PROVINCES = [
  11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61,
  62, 63, 64, 65,
];

const digits = (n: number) =>
  fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((a) => a.join(''));

export const phone = fc
  .tuple(fc.integer({ min: 3, max: 9 }), digits(9))
  .map(([second, rest]) => `1${second}${rest}`);

export const idCard = fc
  .tuple(
    fc.constantFrom(...PROVINCES),
    digits(4),
    fc.date({ min: new Date('1930-01-01'), max: new Date('2015-12-31'), noInvalidDate: true }),
    digits(3),
  )
  .map(([prov, area, born, seq]) => {
    const d = born.toISOString().slice(0, 10).replace(/-/g, '');
    const first = `${prov}${area}${d}${seq}`;
    const sum = ID_WEIGHTS.reduce((s, w, i) => s + w * Number(first[i]), 0);
    return first + ID_CHECK[sum % 11]!;
  });

function luhnDigit(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

export const bankCard = fc
  .tuple(
    fc.constantFrom('4', '51', '55', '62', '622202', '6011', '34', '37', '2221', '2720'),
    fc.integer({ min: 16, max: 19 }),
    digits(19),
  )
  .map(([prefix, len, fill]) => {
    const body = (prefix + fill).slice(0, len - 1);
    return body + luhnDigit(body);
  });

export type Kind = 'phone' | 'id_card' | 'bank_card';

/** Groups for typing with separators: 3-4-4 (phone), 6-8-4 (ID), fours (card). */
function grouped(value: string, kind: Kind, sep: string): string {
  const sizes = kind === 'phone' ? [3, 4, 4] : kind === 'id_card' ? [6, 8, 4] : [];
  const parts: string[] = [];
  let at = 0;
  if (sizes.length) for (const n of sizes) parts.push(value.slice(at, (at += n)));
  else for (; at < value.length; at += 4) parts.push(value.slice(at, at + 4));
  return parts.join(sep);
}

const FULL = (s: string) => s.replace(/[0-9+\-X]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));

/** A number as typed: separators, +86 / 0086, full-width digits, a lower-case x. */
export const typed = fc
  .tuple(
    fc.oneof(
      phone.map((v): { kind: Kind; value: string } => ({ kind: 'phone', value: v })),
      idCard.map((v): { kind: Kind; value: string } => ({ kind: 'id_card', value: v })),
      bankCard.map((v): { kind: Kind; value: string } => ({ kind: 'bank_card', value: v })),
    ),
    fc.constantFrom('', ' ', '-', '  ', '- '),
    fc.constantFrom('', '+86', '+86 ', '0086', '86-'),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([n, sep, country, fullWidth, lowerX]) => {
    let text = sep ? grouped(n.value, n.kind, sep) : n.value;
    if (n.kind === 'phone') text = country + text;
    if (lowerX) text = text.replace(/X$/, 'x');
    if (fullWidth) text = FULL(text);
    return { ...n, text };
  });

/** Text around the numbers: Chinese, English, letters touching the digits, punctuation (no digits). */
export const filler = fc.constantFrom(
  '',
  ' ',
  '电话',
  'TEL',
  'tel:',
  '我的手机是',
  '，',
  '。',
  'card no. ',
  '身份证号：',
  '卡号',
  'abc',
  'Xiaoming',
  ' and ',
  '请联系',
  '\n',
  '（',
  '）',
);

/** A message with one to four numbers, each between pieces of filler. */
export const message = fc
  .array(fc.tuple(fc.array(filler, { maxLength: 3 }), typed), { minLength: 1, maxLength: 4 })
  .chain((parts) =>
    fc.array(filler, { minLength: 1, maxLength: 2 }).map((tail) => {
      let text = '';
      for (const [before, n] of parts) {
        // Two numbers never touch digit to digit: that is one longer number.
        const gap = before.join('');
        text += text !== '' && gap.trim() === '' ? `${gap}，` : gap;
        text += n.text;
      }
      return { text: text + tail.join(''), numbers: parts.map(([, n]) => n) };
    }),
  );

/** Digits only (half-width), for checking that a number does not survive in some text. */
export function digitsOf(text: string): string {
  return text
    .replace(/[\uff10-\uff19]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(/[\uff38\uff58]/g, 'X')
    .replace(/x/g, 'X')
    .replace(/[^\dX*]/g, '');
}
