// The in-memory FAQ matcher: an inverted index over every sentence of every entry (standard
// question, similar questions, answer), ranked with BM25 per token channel (see features.ts), an
// entry taking the score of its best sentence plus a share of its answer's. The confidence of a
// result compares its score with the score the query would get against itself (what a perfect
// paraphrase would reach, under the same weights): words the knowledge base has never seen lower
// it, which is what keeps questions about other products out of the direct-answer band.
// Updates are incremental: upsert/remove touch only that entry's postings.
import { normalizeText } from '../../../platform/text/normalize.ts';
import { createSegmenter, type Segmenter } from '../../../platform/text/segment.ts';
import { channelIndex, extractFeatures, type Features } from './features.ts';
import { BUILTIN_SYNONYMS } from './lexicon.ts';
import type {
  Band,
  MatchEntry,
  Matcher,
  MatcherInput,
  MatchOptions,
  MatchOutcome,
  MatchResult,
  SynonymGroup,
  Thresholds,
} from './types.ts';

export interface RankingParams {
  k1: number;
  b: number;
  /** Weight per channel, in the order of CHANNELS (w, b, u, p). */
  weights: readonly number[];
  /** Share of the answer's score added to the best sentence's. */
  answerWeight: number;
  /** Weight of a synonym of a query word, relative to the word itself. */
  synonymWeight: number;
  /** Share of the second-best sentence of the same entry added (several paraphrases agree). */
  secondSentenceWeight: number;
  /** 'canonical': rewrite synonyms to one representative in the index and the query (every
   * channel sees it); 'expand': add the synonyms of query words as extra word tokens. */
  synonymMode: 'canonical' | 'expand';
  /** Exponent of the document's own score dividing its match score (0: plain BM25, 0.5: cosine-like). */
  docNorm: number;
  /** confidence = sigmoid(ratio·a + margin·m + c) */
  confidence: { a: number; m: number; c: number };
}

export const DEFAULT_PARAMS: RankingParams = {
  k1: 1.2,
  b: 0.75,
  weights: [1, 0.5, 1, 0.3],
  answerWeight: 0.3,
  synonymWeight: 0.8,
  secondSentenceWeight: 0.4,
  docNorm: 0,
  synonymMode: 'expand',
  confidence: { a: 6, m: 8, c: -5 },
};

/** Conservative defaults (measured with `kb eval`: see docs/KNOWLEDGE.md); set per website. */
export const DEFAULT_THRESHOLDS: Thresholds = { answer: 0.95, suggest: 0.1 };

interface Doc {
  entry: string;
  answer: boolean;
  lengths: number[];
  tokens: Map<string, number>;
  /** The document's score against itself, computed at corpus `version` (lazy). */
  self: number;
  version: number;
}

interface IndexedEntry {
  entry: MatchEntry;
  docs: number[];
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

export function bandFor(confidence: number | undefined, t: Thresholds): Band {
  if (confidence === undefined) return 'handoff';
  if (confidence >= t.answer) return 'answer';
  if (confidence >= t.suggest) return 'suggest';
  return 'handoff';
}

export function createMatcher(input: MatcherInput = {}, params: RankingParams = DEFAULT_PARAMS): Matcher {
  const segmenter: Segmenter = createSegmenter(input.dictionary ?? []);
  const postings = new Map<string, Map<number, number>>();
  const docs = new Map<number, Doc>();
  const entries = new Map<string, IndexedEntry>();
  // Length sums per channel, separately for sentences and answers (answers are much longer).
  const sumLen = { sentence: [0, 0, 0, 0], answer: [0, 0, 0, 0] };
  const count = { sentence: 0, answer: 0 };
  let nextDoc = 1;
  // Bumped by every change of the corpus: IDF and average lengths move, so cached self scores
  // are recomputed when next needed.
  let version = 0;
  let synonyms = new Map<string, string[]>();
  let canonical = new Map<string, string>();
  const builtin = input.builtinSynonyms ?? true;

  function addDoc(entryId: string, text: string, answer: boolean): number | undefined {
    if (!text.trim()) return undefined;
    const f = extractFeatures(text, segmenter, canonical);
    if (f.tokens.size === 0) return undefined;
    const id = nextDoc++;
    for (const [t, n] of f.tokens) {
      let p = postings.get(t);
      if (!p) postings.set(t, (p = new Map()));
      p.set(id, n);
    }
    docs.set(id, { entry: entryId, answer, lengths: f.lengths, tokens: f.tokens, self: 0, version: -1 });
    version++;
    const kind = answer ? 'answer' : 'sentence';
    count[kind]++;
    for (let c = 0; c < 4; c++) sumLen[kind][c]! += f.lengths[c]!;
    return id;
  }

  function removeDoc(id: number): void {
    const d = docs.get(id);
    if (!d) return;
    version++;
    for (const t of d.tokens.keys()) {
      const p = postings.get(t);
      if (!p) continue;
      p.delete(id);
      if (p.size === 0) postings.delete(t);
    }
    const kind = d.answer ? 'answer' : 'sentence';
    count[kind]--;
    for (let c = 0; c < 4; c++) sumLen[kind][c]! -= d.lengths[c]!;
    docs.delete(id);
  }

  function upsert(entry: MatchEntry): void {
    remove(entry.id);
    const ids: number[] = [];
    const seen = new Set<string>();
    for (const s of [entry.question, ...entry.similar]) {
      const key = s.trim();
      if (!key || seen.has(key)) continue;
      seen.add(key);
      const id = addDoc(entry.id, s, false);
      if (id !== undefined) ids.push(id);
    }
    const a = addDoc(entry.id, entry.answer, true);
    if (a !== undefined) ids.push(a);
    entries.set(entry.id, { entry, docs: ids });
  }

  function remove(id: string): void {
    const e = entries.get(id);
    if (!e) return;
    for (const d of e.docs) removeDoc(d);
    entries.delete(id);
  }

  function setSynonyms(groups: readonly SynonymGroup[]): void {
    const map = new Map<string, string[]>();
    for (const g of [...(builtin ? BUILTIN_SYNONYMS : []), ...groups]) {
      // Members are compared with segmented query words, so they go through the same folding.
      const members = [...new Set(g.map((w) => normalizeText(w).replace(/ /gu, '')).filter(Boolean))];
      for (const m of members) {
        const others = members.filter((o) => o !== m);
        map.set(m, [...new Set([...(map.get(m) ?? []), ...others])]);
      }
    }
    synonyms = params.synonymMode === 'expand' ? map : new Map();
    if (params.synonymMode === 'canonical') {
      const canon = new Map<string, string>();
      for (const g of [...(builtin ? BUILTIN_SYNONYMS : []), ...groups]) {
        const members = g.map((w) => normalizeText(w).replace(/ /gu, '')).filter(Boolean);
        const rep = members.map((m) => canon.get(m)).find((r) => r !== undefined) ?? members[0];
        for (const m of members) if (rep !== undefined && !canon.has(m)) canon.set(m, rep);
      }
      const changed = canon.size !== canonical.size || [...canon].some(([k, v]) => canonical.get(k) !== v);
      canonical = canon;
      if (changed) for (const e of [...entries.values()].map((x) => x.entry)) upsert(e);
    }
  }

  function setDictionary(words: readonly string[]): void {
    segmenter.setDictionary(words);
    const all = [...entries.values()].map((e) => e.entry);
    for (const e of all) upsert(e);
  }

  function idf(df: number): number {
    const n = count.sentence + count.answer;
    return Math.log(1 + (n - df + 0.5) / (df + 0.5));
  }

  function tfNorm(tf: number, len: number, avg: number): number {
    const { k1, b } = params;
    return (tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * len) / (avg || 1)));
  }

  function eligible(e: MatchEntry, options: MatchOptions, now: Date): boolean {
    if (!e.enabled) return false;
    if (options.scope !== undefined && e.scope && e.scope.length > 0 && !e.scope.includes(options.scope))
      return false;
    if (e.validFrom && now < e.validFrom) return false;
    if (e.validUntil && now >= e.validUntil) return false;
    return true;
  }

  function queryTokens(f: Features): Array<[string, number, number]> {
    const out: Array<[string, number, number]> = [];
    for (const [t, n] of f.tokens) out.push([t, n, 1]);
    if (synonyms.size > 0) {
      const have = new Set(f.tokens.keys());
      for (const w of f.words) {
        for (const s of synonyms.get(w) ?? []) {
          const t = `w:${s}`;
          if (have.has(t)) continue;
          have.add(t);
          out.push([t, 1, params.synonymWeight]);
        }
      }
    }
    return out;
  }

  function match(query: string, options: MatchOptions = {}): MatchOutcome {
    const thresholds = options.thresholds ?? DEFAULT_THRESHOLDS;
    const limit = options.limit ?? 3;
    const f = extractFeatures(query, segmenter, canonical);
    if (f.tokens.size === 0 || entries.size === 0) return { results: [], band: 'handoff' };
    const avg = {
      sentence: sumLen.sentence.map((s) => s / Math.max(1, count.sentence)),
      answer: sumLen.answer.map((s) => s / Math.max(1, count.answer)),
    };
    const w = params.weights;
    // What the query scores against itself: the ceiling a perfect paraphrase would reach.
    let self = 0;
    for (const [t, n] of f.tokens) {
      const c = channelIndex(t);
      self += w[c]! * idf(postings.get(t)?.size ?? 0) * tfNorm(n, f.lengths[c]!, avg.sentence[c]!);
    }
    const docScore = new Map<number, number>();
    for (const [t, n, mult] of queryTokens(f)) {
      const p = postings.get(t);
      if (!p) continue;
      const c = channelIndex(t);
      const weight = w[c]! * idf(p.size) * mult * n;
      if (weight === 0) continue;
      for (const [doc, tf] of p) {
        const d = docs.get(doc)!;
        const s = weight * tfNorm(tf, d.lengths[c]!, (d.answer ? avg.answer : avg.sentence)[c]!);
        docScore.set(doc, (docScore.get(doc) ?? 0) + s);
      }
    }
    // Entry score: best sentence (+ a share of the second best) + a share of the answer.
    const best = new Map<string, [number, number, number]>();
    const avgOf = (d: Doc): number[] => (d.answer ? avg.answer : avg.sentence);
    const selfOf = (d: Doc): number => {
      if (d.version !== version) {
        let s = 0;
        const a = avgOf(d);
        for (const [t, n] of d.tokens) {
          const c = channelIndex(t);
          s += w[c]! * idf(postings.get(t)?.size ?? 0) * tfNorm(n, d.lengths[c]!, a[c]!);
        }
        d.self = s;
        d.version = version;
      }
      return d.self;
    };
    const g = params.docNorm;
    for (const [doc, raw] of docScore) {
      const d = docs.get(doc)!;
      const s = g > 0 ? raw / Math.pow(Math.max(selfOf(d), 1e-9), g) : raw;
      let b = best.get(d.entry);
      if (!b) best.set(d.entry, (b = [0, 0, 0]));
      if (d.answer) b[2] = s;
      else if (s > b[0]) {
        b[1] = b[0];
        b[0] = s;
      } else if (s > b[1]) b[1] = s;
    }
    const now = options.now ?? new Date();
    const ranked: Array<[string, number]> = [];
    for (const [id, [s1, s2, a]] of best) {
      const e = entries.get(id)!.entry;
      if (!eligible(e, options, now)) continue;
      ranked.push([id, s1 + params.secondSentenceWeight * s2 + params.answerWeight * a]);
    }
    ranked.sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
    const top = ranked.slice(0, Math.max(limit, 2));
    const s1 = top[0]?.[1] ?? 0;
    const s2 = top[1]?.[1] ?? 0;
    const { a, m, c } = params.confidence;
    const results: MatchResult[] = top.slice(0, limit).map(([id, score], i) => {
      const ratio = self > 0 ? Math.min(1, score / Math.pow(self, 1 - g)) : 0;
      const margin = i === 0 ? (s1 > 0 ? (s1 - s2) / s1 : 0) : s1 > 0 ? (score - s1) / s1 : 0;
      return { id, score, confidence: sigmoid(a * ratio + m * margin + c) };
    });
    return { results, band: bandFor(results[0]?.confidence, thresholds) };
  }

  setSynonyms(input.synonyms ?? []);
  for (const e of input.entries ?? []) upsert(e);

  return {
    match,
    upsert,
    remove,
    setSynonyms,
    setDictionary,
    get size() {
      return entries.size;
    },
    get: (id) => entries.get(id)?.entry,
  };
}
