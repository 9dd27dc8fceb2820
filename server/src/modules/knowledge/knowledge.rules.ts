// What a knowledge-base entry, synonym group and dictionary word may contain, and how input is
// cleaned. Shared by the console API and the importers, so a file row and a form are held to the
// same rules and refused with the same field names.
import { BadRequestError } from '../../platform/errors.ts';

export const LIMITS = {
  questionChars: 500,
  similarCount: 300,
  answerChars: 5000,
  attachments: 20,
  urlChars: 2000,
  titleChars: 200,
  quickReplies: 10,
  quickReplyChars: 40,
  tags: 20,
  tagChars: 40,
  externalIdChars: 200,
  categoryChars: 60,
  categoryDepth: 5,
  synonymWords: 50,
  synonymWordChars: 40,
  dictionaryWordChars: 40,
} as const;

export interface Attachment {
  kind: 'link' | 'image';
  url: string;
  title: string;
}

/** An entry as written by a person or a file, before it has an id. */
export interface EntryInput {
  question: string;
  similar: string[];
  answer: string;
  attachments: Attachment[];
  quickReplies: string[];
  categoryId: string | null;
  tags: string[];
  channelIds: string[] | null;
  validFrom: Date | null;
  validUntil: Date | null;
  enabled: boolean;
  externalId: string | null;
}

/** A field-naming refusal; `prefix` names the row of a file ("row 7: "). */
export class RuleError extends BadRequestError {
  readonly ruleField: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`, field);
    this.ruleField = field;
  }
}

const chars = (s: string) => [...s].length;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/u;
// Answers may hold line breaks and tabs.
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_NEWLINE = /[\u0000-\u0008\u000b-\u001f\u007f]/u;
const hasControl = (s: string, multiline = false) => (multiline ? CONTROL_BUT_NEWLINE : CONTROL).test(s);
const hasBlankOrControl = (s: string) => /\s/u.test(s) || hasControl(s);

/**
 * The form a standard question is compared in for duplicates: Unicode-compatibility folded
 * (full-width → half-width), lower case, without spaces and without trailing punctuation.
 */
export function questionKey(question: string): string {
  return question
    .normalize('NFKC')
    .toLowerCase()
    .replace(/\s+/gu, '')
    .replace(/[\p{P}\p{S}]+$/u, '');
}

/** Trimmed text with inner runs of blanks kept as they are; control characters refused. */
function text(field: string, raw: string, max: number, opts: { multiline?: boolean } = {}): string {
  const s = raw.replace(/\r\n?/g, '\n').trim();
  if (s.length === 0) throw new RuleError(field, 'must not be empty');
  if (chars(s) > max) throw new RuleError(field, `longer than ${max} characters`);
  if (hasControl(s, opts.multiline)) throw new RuleError(field, 'contains control characters');
  return s;
}

export function cleanQuestion(raw: string, field = 'question'): string {
  const q = text(field, raw, LIMITS.questionChars);
  if (questionKey(q).length === 0) throw new RuleError(field, 'has no letters or digits');
  return q;
}

/** Similar questions: trimmed, duplicates (and copies of the standard question) dropped. */
export function cleanSimilar(raw: readonly string[], question: string, field = 'similar'): string[] {
  if (raw.length > LIMITS.similarCount)
    throw new RuleError(field, `more than ${LIMITS.similarCount} questions`);
  const seen = new Set([questionKey(question)]);
  const out: string[] = [];
  raw.forEach((s, i) => {
    const q = cleanQuestion(s, `${field}[${i}]`);
    const key = questionKey(q);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(q);
  });
  return out;
}

export function cleanAnswer(raw: string, field = 'answer'): string {
  return text(field, raw, LIMITS.answerChars, { multiline: true });
}

const SAFE_URL = /^(https?:\/\/[^\s<>"']+|\/[^\s<>"']*)$/iu;

export function cleanAttachments(raw: readonly { kind: string; url: string; title?: string | undefined }[]) {
  if (raw.length > LIMITS.attachments) {
    throw new RuleError('attachments', `more than ${LIMITS.attachments} links and images`);
  }
  return raw.map((a, i): Attachment => {
    if (a.kind !== 'link' && a.kind !== 'image')
      throw new RuleError(`attachments[${i}].kind`, 'link or image');
    const url = a.url.trim();
    if (chars(url) > LIMITS.urlChars || !SAFE_URL.test(url)) {
      throw new RuleError(`attachments[${i}].url`, 'an http(s) address or a path on this server');
    }
    const title = (a.title ?? '').trim();
    if (chars(title) > LIMITS.titleChars) throw new RuleError(`attachments[${i}].title`, 'too long');
    return { kind: a.kind, url, title };
  });
}

function shortList(field: string, raw: readonly string[], count: number, max: number): string[] {
  if (raw.length > count) throw new RuleError(field, `more than ${count} items`);
  const out: string[] = [];
  raw.forEach((s, i) => {
    const v = text(`${field}[${i}]`, s, max);
    if (!out.includes(v)) out.push(v);
  });
  return out;
}

export const cleanQuickReplies = (raw: readonly string[]) =>
  shortList('quickReplies', raw, LIMITS.quickReplies, LIMITS.quickReplyChars);
export const cleanTags = (raw: readonly string[]) => shortList('tags', raw, LIMITS.tags, LIMITS.tagChars);

export function cleanExternalId(raw: string | null | undefined, field = 'externalId'): string | null {
  if (raw === null || raw === undefined) return null;
  const s = raw.trim();
  if (s.length === 0) return null;
  if (chars(s) > LIMITS.externalIdChars || hasControl(s)) {
    throw new RuleError(field, `1–${LIMITS.externalIdChars} characters without control characters`);
  }
  return s;
}

export function cleanValidity(from: Date | null, until: Date | null) {
  if (from && until && from >= until) throw new RuleError('validUntil', 'must be later than validFrom');
  return { validFrom: from, validUntil: until };
}

export function cleanCategoryName(raw: string, field = 'name'): string {
  const s = text(field, raw, LIMITS.categoryChars);
  if (s.includes('/')) throw new RuleError(field, 'must not contain "/" (it separates levels in files)');
  return s;
}

/** "售后 / 退货" → ["售后", "退货"]: the category path of an imported row. */
export function categoryPath(raw: string, field = 'category'): string[] {
  const parts = raw
    .split('/')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  if (parts.length > LIMITS.categoryDepth)
    throw new RuleError(field, `deeper than ${LIMITS.categoryDepth} levels`);
  return parts.map((p) => cleanCategoryName(p, field));
}

/** A synonym group: at least two different words, none empty or over-long. */
export function cleanSynonymWords(raw: readonly string[], field = 'words'): string[] {
  if (raw.length > LIMITS.synonymWords) throw new RuleError(field, `more than ${LIMITS.synonymWords} words`);
  const out: string[] = [];
  raw.forEach((w, i) => {
    const word = w.trim();
    if (word.length === 0) throw new RuleError(`${field}[${i}]`, 'must not be empty');
    if (chars(word) > LIMITS.synonymWordChars) {
      throw new RuleError(`${field}[${i}]`, `longer than ${LIMITS.synonymWordChars} characters`);
    }
    if (hasBlankOrControl(word)) throw new RuleError(`${field}[${i}]`, 'must be one word without spaces');
    if (!out.some((o) => o.toLowerCase() === word.toLowerCase())) out.push(word);
  });
  if (out.length < 2) throw new RuleError(field, 'a group needs at least two different words');
  return out;
}

export function cleanDictionaryWord(raw: string, field = 'word'): string {
  const word = raw.trim();
  if (word.length === 0) throw new RuleError(field, 'must not be empty');
  if (chars(word) > LIMITS.dictionaryWordChars) {
    throw new RuleError(field, `longer than ${LIMITS.dictionaryWordChars} characters`);
  }
  if (hasBlankOrControl(word)) throw new RuleError(field, 'must be one word without spaces');
  return word;
}
