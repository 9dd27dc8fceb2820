// The tokens of the message search index (docs/SEARCH.md). Pure functions, shared by the indexer
// and the query, so both sides always cut text the same way.
//
// Text is normalised (NFKC: full-width digits and letters become half-width, compatibility
// ideographs their unified form; then lower case) and cut into runs of one class:
//   - CJK (Han, kana, Hangul): grams of 2 characters
//   - other letters and digits (Latin words, order and phone numbers, "SO2026…"): grams of 3
//   - anything else (spaces, punctuation, emoji) separates runs and is not indexed.
// A run of length L yields, for every start position i, run.slice(i, i + n): the n-grams, then
// the shorter tails at the end of the run. So any substring s of a run is served:
//   - length ≥ n: every n-gram of s is a token of the text (exact lexeme match, AND);
//   - length < n: some token starts with s (a prefix match, `s:*`).
// The GIN index returns candidates; the exact substring check on the normalised text removes
// the rest (no false positives). Traditional and simplified characters are different characters:
// 後 does not find 后 (docs/SEARCH.md says why).

export const TOKENIZER_VERSION = 1;

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const WORD = /[\p{L}\p{N}\p{M}]/u;

/** The form both the index and the query compare: NFKC, lower case. SQL: lower(normalize(x, NFKC)). */
export function normaliseText(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}

interface Run {
  text: string[];
  n: number;
}

/** Class of a character: 2 (CJK), 3 (word) or 0 (separator); memoised, the regexes are slow. */
const classes = new Map<string, number>();
function classOf(ch: string): number {
  let n = classes.get(ch);
  if (n === undefined) {
    n = CJK.test(ch) ? 2 : WORD.test(ch) ? 3 : 0;
    if (classes.size < 100_000) classes.set(ch, n);
  }
  return n;
}

function runsOf(normalised: string): Run[] {
  const runs: Run[] = [];
  let current: Run | null = null;
  for (const ch of normalised) {
    const n = classOf(ch);
    if (n === 0) {
      current = null;
      continue;
    }
    if (!current || current.n !== n) {
      current = { text: [], n };
      runs.push(current);
    }
    current.text.push(ch);
  }
  return runs;
}

/** Distinct tokens of a message's text (already normalised or not: it is normalised here). */
export function documentTokens(text: string): string[] {
  const out = new Set<string>();
  for (const run of runsOf(normaliseText(text))) {
    const { text: c, n } = run;
    const L = c.length;
    for (let i = 0; i < L; i++) {
      let token = c[i]!;
      for (let k = 1; k < n && i + k < L; k++) token += c[i + k]!;
      out.add(token);
    }
  }
  return [...out];
}

export interface QueryTerm {
  token: string;
  prefix: boolean;
}

/** What the index must contain for a text to hold `query` as a substring (AND of all terms). */
export function queryTerms(query: string): QueryTerm[] {
  const terms = new Map<string, QueryTerm>();
  for (const run of runsOf(normaliseText(query))) {
    const { text: c, n } = run;
    if (c.length < n) {
      const token = c.join('');
      terms.set(`${token}*`, { token, prefix: true });
    } else {
      for (let i = 0; i + n <= c.length; i++) {
        const token = c.slice(i, i + n).join('');
        terms.set(token, { token, prefix: false });
      }
    }
  }
  return [...terms.values()];
}

function quote(lexeme: string): string {
  return `'${lexeme.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** tsvector input text for a document's tokens (cast with ::tsvector; no parser, no stemming). */
export function tsvectorText(tokens: readonly string[]): string {
  return tokens.map(quote).join(' ');
}

/** tsquery input text (cast with ::tsquery), or null when the query has no indexable term. */
export function tsqueryText(terms: readonly QueryTerm[]): string | null {
  if (terms.length === 0) return null;
  return terms.map((t) => (t.prefix ? `${quote(t.token)}:*` : quote(t.token))).join(' & ');
}

/** The LIKE pattern matching `query` as a substring of normalised text (escape character \). */
export function likePattern(query: string): string {
  return `%${normaliseText(query).replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
}

/** The ILIKE pattern of `query` as typed (escape character \): a cheap first test before normalising. */
export function rawLikePattern(query: string): string {
  return `%${query.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
}
