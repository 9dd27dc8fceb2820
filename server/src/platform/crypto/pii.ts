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

/** 13812341234 → 138****1234; short numbers keep only the last 2 digits. */
export function maskPhone(phone: string): string {
  const d = phone.replace(/\s+/g, '');
  if (d.length >= 11) return `${d.slice(0, d.length - 8)}****${d.slice(-4)}`;
  if (d.length >= 7) return `${d.slice(0, 3)}${'*'.repeat(d.length - 5)}${d.slice(-2)}`;
  return '*'.repeat(Math.max(0, d.length - 2)) + d.slice(-2);
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

// Candidates: runs of digits (with spaces or dashes inside, as people type card numbers),
// not glued to other digits or letters.
const CANDIDATE = /(?<![\dA-Za-z])(?:\+?86[- ]?)?\d[\d -]{9,22}[\dXx](?![\dA-Za-z])/g;

/** Finds PRC mobile numbers, ID-card numbers (checksum-valid) and bank-card numbers (Luhn). */
export function findSensitive(text: string): Finding[] {
  const out: Finding[] = [];
  for (const m of text.matchAll(CANDIDATE)) {
    const raw = m[0];
    const start = m.index;
    const compact = raw.replace(/[\s-]/g, '');
    const noCountry = compact.replace(/^\+?86(?=1\d{10}$)/, '');
    if (/^1[3-9]\d{9}$/.test(noCountry)) {
      out.push({ kind: 'phone', start, end: start + raw.length, value: raw });
    } else if (isPrcIdCard(compact)) {
      out.push({ kind: 'id_card', start, end: start + raw.length, value: raw });
    } else if (isBankCard(compact)) {
      out.push({ kind: 'bank_card', start, end: start + raw.length, value: raw });
    }
  }
  return out;
}

function maskFinding(f: Finding): string {
  const compact = f.value.replace(/[\s-]/g, '');
  switch (f.kind) {
    case 'phone':
      return maskPhone(compact.replace(/^\+?86/, ''));
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
