// The rules every chat text obeys, in one place for the server (WebSocket frames, HTTP routes),
// the console and the widget (their counters and send buttons import this file). Pure code: no
// Node.js or browser API.
//
// - Length is counted in Unicode code points: "😀" is one character, "中" is one, "a" is one.
//   (JavaScript's `length` counts UTF-16 units and would count the emoji twice.)
// - Text must be storable by PostgreSQL: no U+0000 (NUL), and no unpaired UTF-16 surrogate
//   (JSON can carry "\ud800" alone, but it is not a character; UTF-8 cannot encode it). Such
//   text is refused, naming the field, never stripped: the sender learns its text was broken
//   instead of a silently altered message being stored. (Uploaded file names are the exception:
//   they are cleaned, see attachments.ts.)

/** Longest page URL a widget visitor's conversation records as where it came from (code points). */
export const SOURCE_URL_MAX_CHARS = 2000;
/** Longest page title recorded with it (code points). */
export const SOURCE_TITLE_MAX_CHARS = 300;

/** Entries one `hello` or `resume` frame may carry. */
export const MAX_RESUME_ENTRIES = 500;

/**
 * Largest WebSocket frame the server reads, in bytes. It must hold the longest valid frame
 * written in any valid JSON: a `send`/`edit` whose text is `maxTextChars` code points, each
 * written as `\uXXXX` escapes (an astral character is two escapes: 12 bytes), and a full resume
 * frame. 4,096 bytes cover the other fields (ids, ref, whitespace).
 */
export function maxFrameBytes(maxTextChars: number): number {
  /** One resume entry as JSON: {"conversationId":"<uuid>","lastSeq":<15 digits>}, with room. */
  const RESUME_ENTRY_BYTES = 128;
  return 4096 + Math.max(12 * maxTextChars, RESUME_ENTRY_BYTES * MAX_RESUME_ENTRIES);
}

/** Index just after the code point that starts at `i` (a surrogate pair is one code point). */
function afterCodePoint(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return i + 2;
  }
  return i + 1;
}

/** Length in Unicode code points (a lone surrogate counts as one). */
export function textLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i = afterCodePoint(text, i)) n++;
  return n;
}

/** The first `max` code points of `text` (never cuts a surrogate pair in two). */
export function truncateText(text: string, max: number): string {
  let n = 0;
  for (let i = 0; i < text.length; i = afterCodePoint(text, i)) {
    if (n === max) return text.slice(0, i);
    n++;
  }
  return text;
}

// A NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Describes the first character PostgreSQL cannot store, or null when there is none. */
export function unstorableCharacter(text: string): string | null {
  const m = UNSTORABLE.exec(text);
  if (!m) return null;
  const code = m[0].charCodeAt(0);
  if (code === 0) return 'U+0000 (NUL)';
  return `an unpaired surrogate U+${code.toString(16).toUpperCase()}`;
}

/** Removes what `unstorableCharacter` reports (for file names, which are cleaned, not refused). */
export function withoutUnstorable(text: string): string {
  return text.replace(new RegExp(UNSTORABLE.source, 'g'), '');
}

/**
 * Walks a parsed JSON value (a frame, a request body or query) and returns the path of the
 * first string (or object key) holding a character PostgreSQL cannot store, with what it is.
 * Iterative: a deeply nested document cannot overflow the stack.
 */
export function findUnstorable(value: unknown): { field: string; what: string } | null {
  const stack: [unknown, string][] = [[value, '']];
  const join = (path: string, k: string) => (path ? `${path}.${k}` : k);
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      const what = unstorableCharacter(v);
      if (what) return { field: path, what };
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], join(path, String(i))]);
    } else if (typeof v === 'object' && v !== null) {
      const entries: [string, unknown][] = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, child] = entries[i]!;
        const what = unstorableCharacter(k);
        if (what) return { field: join(path, k), what };
        stack.push([child, join(path, k)]);
      }
    }
  }
  return null;
}

export type TextProblem = 'empty' | 'too_long' | null;

/** What is wrong with a message text of a chat client (storability is checked on the server). */
export function textProblem(text: string, maxChars: number): TextProblem {
  if (text.trim().length === 0) return 'empty';
  if (textLength(text) > maxChars) return 'too_long';
  return null;
}
