// Personal data helpers: normalising for lookup, masking for display, and detectors that mask
// phone numbers, PRC resident ID-card numbers and bank-card numbers typed in chat.

/** Digits only, PRC mobile numbers without +86 / 0086: the form lookups hash. */
export function normalisePhone(phone: string): string {
  let digits = phone.replace(/[^\d+]/g, '');
  if (digits.startsWith('+86')) digits = digits.slice(3);
  else if (digits.startsWith('0086')) digits = digits.slice(4);
  return digits.replace(/\D/g, '');
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * 13812341234 → 138****1234, whatever the formatting: only digits are kept (full-width ones
 * too), a +86 / 0086 country code before a mobile number is dropped, and at most the first 3 and
 * the last 4 digits show (`+86 139-1234-5678` → `139****5678`). Shorter numbers show less: 7–10
 * digits the first 3 and last 2, fewer only the last 2.
 */
export function maskPhone(phone: string): string {
  let d = toHalfWidth(phone).replace(/\D/g, '');
  if (/^(?:0086|86)1[3-9]\d{9}$/.test(d)) d = d.replace(/^(?:0086|86)/, '');
  if (d.length >= 11) return `${d.slice(0, 3)}${'*'.repeat(d.length - 7)}${d.slice(-4)}`;
  if (d.length >= 7) return `${d.slice(0, 3)}${'*'.repeat(d.length - 5)}${d.slice(-2)}`;
  return '*'.repeat(Math.max(0, d.length - 2)) + d.slice(-2);
}

/**
 * Full-width digits, letters, plus and minus (U+FF01–FF5E), the ideographic space and the dash
 * look-alikes people type, mapped to ASCII one UTF-16 unit for one: positions stay the same.
 */
export function toHalfWidth(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xff01 && c <= 0xff5e) out += String.fromCharCode(c - 0xfee0);
    else if (c === 0x3000) out += ' ';
    else if (c === 0x2010 || c === 0x2011 || c === 0x2012 || c === 0x2013 || c === 0x2014 || c === 0x2212)
      out += '-';
    else out += text[i];
  }
  return out;
}

/** zhang.san@example.com → z***@example.com */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${email[0]}***${email.slice(at)}`;
}

/** 张三丰 → 张**; John Smith → J*** */
export function maskName(name: string): string {
  const chars = [...name.trim()];
  if (chars.length === 0) return '';
  return chars[0] + (/^[\u4e00-\u9fff]$/.test(chars[0]!) ? '*'.repeat(Math.max(1, chars.length - 1)) : '***');
}

/** Keeps the first 6 characters (province/city) of an address. */
export function maskAddress(address: string): string {
  const chars = [...address.trim()];
  return chars.length <= 6 ? '***' : `${chars.slice(0, 6).join('')}***`;
}

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';
// First two digits of a resident ID: the province-level division (GB/T 2260), 71/81/82/83 for
// Taiwan, Hong Kong and Macao residents' permits.
const ID_PROVINCES = new Set([
  11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61,
  62, 63, 64, 65, 71, 81, 82, 83,
]);

/** GB 11643: a province code, a real birth date not in the future, and the check digit. */
export function isPrcIdCard(value: string): boolean {
  const v = value.toUpperCase();
  if (!/^\d{17}[\dX]$/.test(v)) return false;
  if (!ID_PROVINCES.has(Number(v.slice(0, 2)))) return false;
  const year = Number(v.slice(6, 10));
  const month = Number(v.slice(10, 12));
  const day = Number(v.slice(12, 14));
  const born = new Date(Date.UTC(year, month - 1, day));
  if (
    year < 1900 ||
    born.getUTCMonth() !== month - 1 ||
    born.getUTCDate() !== day ||
    born.getTime() > Date.now()
  ) {
    return false;
  }
  const sum = ID_WEIGHTS.reduce((s, w, i) => s + w * Number(v[i]), 0);
  return ID_CHECK[sum % 11] === v[17];
}

/**
 * A payment card number: 13–19 digits, an issuer prefix card networks use (2221–2720
 * Mastercard, 3 Amex/JCB/Diners, 4 Visa, 5 Mastercard, 6 UnionPay/Discover) and the Luhn check.
 * The prefix keeps millisecond timestamps (1…) and date-led order numbers (20…) out even
 * when they happen to pass Luhn, as one in ten numbers does.
 */
export function isBankCard(digits: string): boolean {
  if (!/^\d{13,19}$/.test(digits)) return false;
  const iin = Number(digits.slice(0, 4));
  if (!/^[3-6]/.test(digits) && !(iin >= 2221 && iin <= 2720)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export type SensitiveKind = 'phone' | 'id_card' | 'bank_card';

export interface Finding {
  kind: SensitiveKind;
  start: number;
  end: number;
  value: string;
}

// Candidates: runs of digits (ASCII or full-width) in which single spaces or dashes (at most two
// in a row) may separate groups, as people type phone and card numbers; an ID card's final X
// belongs to the run. Letters and Chinese around a run do not matter (`TEL13912345678`,
// `电话13912345678`). Within a run, numbers are looked for at the start of each group, longest
// kind first (ID card 18, bank card 19…13, then a mobile number with or without +86 / 0086), and
// must end where a group ends; several numbers in one run (`13912345678 6222…`) are all found.
// Digits glued to digits (`1391234567813812345678`) are one number and not split.
const RUN = /\d(?:[ -]{0,2}\d)*[Xx]?/g;

interface Run {
  /** The run's digits (and a final X), without separators. */
  compact: string;
  /** For each character of `compact`, its index in the text. */
  at: number[];
  /** Indexes into `compact` where a group starts; and where one ends (exclusive). */
  starts: Set<number>;
  ends: Set<number>;
}

function runOf(start: number, raw: string): Run {
  const run: Run = { compact: '', at: [], starts: new Set([0]), ends: new Set() };
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === ' ' || ch === '-') {
      if (run.compact.length > 0 && raw[i - 1] !== ' ' && raw[i - 1] !== '-')
        run.ends.add(run.compact.length);
      continue;
    }
    if (i > 0 && (raw[i - 1] === ' ' || raw[i - 1] === '-')) run.starts.add(run.compact.length);
    run.compact += ch.toUpperCase();
    run.at.push(start + i);
  }
  run.ends.add(run.compact.length);
  // A final X is the end of an ID card only; a number before it also ends there.
  if (run.compact.endsWith('X')) run.ends.add(run.compact.length - 1);
  return run;
}

function matchAt(run: Run, p: number): { kind: SensitiveKind; len: number } | null {
  const c = run.compact;
  if (run.ends.has(p + 18) && isPrcIdCard(c.slice(p, p + 18))) return { kind: 'id_card', len: 18 };
  for (let len = 19; len >= 13; len--) {
    if (run.ends.has(p + len) && isBankCard(c.slice(p, p + len))) return { kind: 'bank_card', len };
  }
  for (const prefix of ['0086', '86', '']) {
    const len = prefix.length + 11;
    if (
      run.ends.has(p + len) &&
      c.startsWith(prefix, p) &&
      /^1[3-9]\d{9}$/.test(c.slice(p + prefix.length, p + len))
    ) {
      return { kind: 'phone', len };
    }
  }
  return null;
}

/** Finds PRC mobile numbers, ID-card numbers (checksum-valid) and bank-card numbers (Luhn). */
export function findSensitive(text: string): Finding[] {
  const norm = toHalfWidth(text);
  const out: Finding[] = [];
  for (const m of norm.matchAll(RUN)) {
    const run = runOf(m.index, m[0]);
    for (let p = 0; p < run.compact.length; p++) {
      if (!run.starts.has(p)) continue;
      const hit = matchAt(run, p);
      if (!hit) continue;
      let start = run.at[p]!;
      const end = run.at[p + hit.len - 1]! + 1;
      if (hit.kind === 'phone' && p === 0 && norm[start - 1] === '+') start -= 1;
      out.push({ kind: hit.kind, start, end, value: text.slice(start, end) });
      // Continue after it: the next group start at or after its end.
      p += hit.len - 1;
    }
  }
  return out;
}

function maskFinding(f: Finding): string {
  const compact = toHalfWidth(f.value).replace(/[^\dXx]/g, '');
  switch (f.kind) {
    case 'phone':
      return maskPhone(compact);
    case 'id_card':
      return `${compact.slice(0, 3)}${'*'.repeat(11)}${compact.slice(-4)}`;
    case 'bank_card':
      return `${'*'.repeat(compact.length - 4)}${compact.slice(-4)}`;
  }
}

/** The text with every finding masked, and the findings (for keeping the original encrypted). */
export function maskTranscript(text: string): { masked: string; findings: Finding[] } {
  const findings = findSensitive(text);
  let masked = '';
  let at = 0;
  for (const f of findings) {
    masked += text.slice(at, f.start) + maskFinding(f);
    at = f.end;
  }
  return { masked: masked + text.slice(at), findings };
}
