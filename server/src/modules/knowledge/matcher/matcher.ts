// The in-memory FAQ matcher: an inverted index over every sentence of every entry (standard
// question, similar questions) and its answer, ranked with BM25 per token channel (see
// features.ts). An entry scores its best sentence, plus a share of its second best (several
// paraphrases agreeing) and of its answer. The confidence of a result compares its score with the
// score the query would get against itself (what a perfect paraphrase would reach, under the same
// weights): words the knowledge base has never seen lower it, which is what keeps questions about
// other products out of the direct-answer band. Updates are incremental: upsert/remove touch only
// that entry's postings, synonyms expand the query, a dictionary change re-segments only the
// entries that contain a changed word.
//
// Memory: tokens are interned to integers and postings are packed small integers (doc << 4 | tf)
// in plain arrays; query accumulators are typed arrays reused between calls.
import { normalizeText } from '../../../platform/text/normalize.ts';
import { createSegmenter } from '../../../platform/text/segment.ts';
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
  /** Share of the answer's score added to the best sentence's (answers index words only). */
  answerWeight: number;
  /** Weight of a built-in synonym of a query word, relative to the word itself (the admin's
   * synonyms count in full). */
  synonymWeight: number;
  /** Weight of a built-in synonym's character, bigram and pinyin tokens, relative to its word. */
  synonymCharWeight: number;
  /** Share of the second-best sentence of the same entry added (several paraphrases agree). */
  secondSentenceWeight: number;
  /** Query tokens found in more than this share of the sentences are skipped (speed). */
  maxDocShare: number;
  /** confidence = sigmoid(ratio·a + support·s + margin·m + ln(1 + self)·i + c): how much of the
   * query the entry's best sentence covers, how much its second best does (paraphrases agree),
   * how far ahead of the next entry it is, and how much the query says at all. Fitted by
   * logistic regression on labelled queries (cold and learning). */
  confidence: { a: number; s: number; m: number; i: number; c: number };
}

export const DEFAULT_PARAMS: RankingParams = {
  k1: 1.2,
  b: 0.75,
  weights: [1, 0.5, 1, 0.3],
  answerWeight: 0.3,
  synonymWeight: 0.8,
  synonymCharWeight: 0.3,
  secondSentenceWeight: 0.4,
  maxDocShare: 1,
  confidence: { a: 6.6, s: 0.4, m: 2.4, i: -0.2, c: -2.6 },
};

/** Conservative defaults (measured with `kb eval`: see docs/KNOWLEDGE.md); set per website. */
export const DEFAULT_THRESHOLDS: Thresholds = { answer: 0.96, suggest: 0.1 };

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

export function bandFor(confidence: number | undefined, t: Thresholds): Band {
  if (confidence === undefined) return 'handoff';
  if (confidence >= t.answer) return 'answer';
  if (confidence >= t.suggest) return 'suggest';
  return 'handoff';
}

/** Packed postings (doc << 4 | min(tf, 15)): small integers, which V8 stores unboxed in a plain
 * array on its own compacting heap (many small typed arrays fragment the native heap instead). */
type Postings = number[];

interface IndexedEntry {
  entry: MatchEntry;
  slot: number;
  docs: number[];
}

const TF_BITS = 4;
const TF_MAX = (1 << TF_BITS) - 1;

export function createMatcher(input: MatcherInput = {}, params: RankingParams = DEFAULT_PARAMS): Matcher {
  const segmenter = createSegmenter([]);
  let dictionary: string[] = [];
  let synonymWords: string[] = [];
  let effectiveDictionary: string[] = [];
  const builtin = input.builtinSynonyms ?? true;

  // Tokens, interned.
  const tokenId = new Map<string, number>();
  const tokenChannel: number[] = [];
  const postings: Array<Postings | undefined> = [];
  // Documents (sentences and answers), by doc id; ids of removed docs are reused.
  const docSlot: number[] = []; // entry slot, -1 when free
  const docAnswer: boolean[] = [];
  const docLen: number[][] = [[], [], [], []];
  const docTokens: Array<number[] | undefined> = [];
  const freeDocs: number[] = [];
  // Entries, by slot; slots of removed entries are reused.
  const entries = new Map<string, IndexedEntry>();
  const slotId: Array<string | undefined> = [];
  const freeSlots: number[] = [];
  // Length sums per channel, separately for sentences and answers.
  const sumLen = { sentence: [0, 0, 0, 0], answer: [0, 0, 0, 0] };
  const count = { sentence: 0, answer: 0 };
  let synonyms = new Map<string, Map<string, boolean>>();
  const synonymTokens = new Map<string, string[]>();

  // Query scratch space, grown on demand.
  let acc = new Float64Array(1024);
  let touched = new Int32Array(1024);
  let best1 = new Float64Array(256);
  let best2 = new Float64Array(256);
  let ans = new Float64Array(256);
  let entryTouched = new Int32Array(256);
  let entryMark = new Uint8Array(256);

  function internToken(t: string): number {
    let id = tokenId.get(t);
    if (id === undefined) {
      id = tokenChannel.length;
      tokenId.set(t, id);
      tokenChannel.push(channelIndex(t));
      postings.push(undefined);
    }
    return id;
  }

  function addPosting(token: number, doc: number, tf: number): void {
    let p = postings[token];
    if (!p) postings[token] = p = [];
    p.push((doc << TF_BITS) | Math.min(tf, TF_MAX));
  }

  function removePosting(token: number, doc: number): void {
    const p = postings[token];
    if (!p) return;
    for (let i = 0; i < p.length; i++) {
      if (p[i]! >>> TF_BITS === doc) {
        p[i] = p[p.length - 1]!;
        p.pop();
        break;
      }
    }
    if (p.length === 0) postings[token] = undefined;
  }

  function addDoc(slot: number, text: string, answer: boolean): number | undefined {
    if (!text.trim()) return undefined;
    const f = extractFeatures(text, segmenter);
    if (answer) {
      // Answers are long: their words are enough to add a share of evidence, and indexing
      // every character channel of them would double the index.
      for (const t of [...f.tokens.keys()]) if (!t.startsWith('w:')) f.tokens.delete(t);
      f.lengths[1] = f.lengths[2] = f.lengths[3] = 0;
    }
    if (f.tokens.size === 0) return undefined;
    const doc = freeDocs.pop() ?? docSlot.length;
    const ids: number[] = [];
    for (const [t, n] of f.tokens) {
      const id = internToken(t);
      ids.push(id);
      addPosting(id, doc, n);
    }
    docSlot[doc] = slot;
    docAnswer[doc] = answer;
    for (let c = 0; c < 4; c++) docLen[c]![doc] = f.lengths[c]!;
    docTokens[doc] = ids;
    const kind = answer ? 'answer' : 'sentence';
    count[kind]++;
    for (let c = 0; c < 4; c++) sumLen[kind][c]! += f.lengths[c]!;
    return doc;
  }

  function removeDoc(doc: number): void {
    const ids = docTokens[doc];
    if (!ids) return;
    for (const t of ids) removePosting(t, doc);
    const kind = docAnswer[doc] ? 'answer' : 'sentence';
    count[kind]--;
    for (let c = 0; c < 4; c++) sumLen[kind][c]! -= docLen[c]![doc]!;
    docTokens[doc] = undefined;
    docSlot[doc] = -1;
    freeDocs.push(doc);
  }

  function upsert(entry: MatchEntry): void {
    remove(entry.id);
    const slot = freeSlots.pop() ?? slotId.length;
    slotId[slot] = entry.id;
    const docs: number[] = [];
    const seen = new Set<string>();
    for (const s of [entry.question, ...entry.similar]) {
      const key = s.trim();
      if (!key || seen.has(key)) continue;
      seen.add(key);
      const d = addDoc(slot, s, false);
      if (d !== undefined) docs.push(d);
    }
    const a = addDoc(slot, entry.answer, true);
    if (a !== undefined) docs.push(a);
    entries.set(entry.id, { entry, slot, docs });
  }

  function remove(id: string): void {
    const e = entries.get(id);
    if (!e) return;
    for (const d of e.docs) removeDoc(d);
    entries.delete(id);
    slotId[e.slot] = undefined;
    freeSlots.push(e.slot);
  }

  function setSynonyms(groups: readonly SynonymGroup[]): void {
    // word → [synonym, is it from the admin's groups]. The admin's groups are declared
    // equivalences and count in full; the built-in everyday groups count at a discount.
    const map = new Map<string, Map<string, boolean>>();
    const adminWords: string[] = [];
    const all = [
      ...(builtin ? BUILTIN_SYNONYMS.map((g) => [g, false] as const) : []),
      ...groups.map((g) => [g, true] as const),
    ];
    for (const [g, admin] of all) {
      // Members are compared with segmented query words, so they go through the same folding.
      const members = [...new Set(g.map((w) => normalizeText(w).replace(/ /gu, '')).filter(Boolean))];
      if (admin) adminWords.push(...members.filter((m) => m.length > 1));
      for (const m of members) {
        let to = map.get(m);
        if (!to) map.set(m, (to = new Map<string, boolean>()));
        for (const o of members) if (o !== m) to.set(o, admin || (to.get(o) ?? false));
      }
    }
    synonyms = map;
    synonymTokens.clear();
    // A synonym must be one word to the segmenter, or the query never holds it whole.
    synonymWords = adminWords;
    applyDictionary();
  }

  function setDictionary(words: readonly string[]): void {
    dictionary = words.map((w) => w.trim()).filter(Boolean);
    applyDictionary();
  }

  /** Segmenter dictionary = domain words + admin synonym members; re-segments what changed. */
  function applyDictionary(): void {
    const next = [...new Set([...dictionary, ...synonymWords])];
    const before = new Set(effectiveDictionary);
    const after = new Set(next);
    const changed = [
      ...next.filter((w) => !before.has(w)),
      ...effectiveDictionary.filter((w) => !after.has(w)),
    ].map((w) => normalizeText(w).replace(/ /gu, ''));
    effectiveDictionary = next;
    if (changed.length === 0) return;
    segmenter.setDictionary(next);
    synonymTokens.clear();
    // Only texts containing a changed word can segment differently.
    for (const e of [...entries.values()].map((x) => x.entry)) {
      const texts = [e.question, ...e.similar, e.answer].map((t) => normalizeText(t).replace(/ /gu, ''));
      if (texts.some((t) => changed.some((w) => w && t.includes(w)))) upsert(e);
    }
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
        for (const [s, admin] of synonyms.get(w) ?? []) {
          // The synonym's own tokens in every channel (its characters, bigrams, pinyin), so it
          // meets the entry wherever the original word would have.
          let tokens = synonymTokens.get(s);
          if (!tokens) {
            tokens = [...extractFeatures(s, segmenter).tokens.keys()];
            synonymTokens.set(s, tokens);
          }
          for (const t of [`w:${s}`, ...tokens]) {
            if (have.has(t)) continue;
            have.add(t);
            const mult = admin
              ? 1
              : t.startsWith('w:')
                ? params.synonymWeight
                : params.synonymWeight * params.synonymCharWeight;
            if (mult > 0) out.push([t, 1, mult]);
          }
        }
      }
    }
    return out;
  }

  function ensureScratch(): void {
    if (acc.length < docSlot.length) {
      acc = new Float64Array(docSlot.length * 2);
      touched = new Int32Array(docSlot.length * 2);
    }
    if (best1.length < slotId.length) {
      const n = slotId.length * 2;
      best1 = new Float64Array(n);
      best2 = new Float64Array(n);
      ans = new Float64Array(n);
      entryTouched = new Int32Array(n);
      entryMark = new Uint8Array(n);
    }
  }

  function match(query: string, options: MatchOptions = {}): MatchOutcome {
    const thresholds = options.thresholds ?? DEFAULT_THRESHOLDS;
    const limit = options.limit ?? 3;
    const f = extractFeatures(query, segmenter);
    if (f.tokens.size === 0 || entries.size === 0) return { results: [], band: 'handoff' };
    ensureScratch();
    const avgS = sumLen.sentence.map((s) => s / Math.max(1, count.sentence));
    const avgA = sumLen.answer.map((s) => s / Math.max(1, count.answer));
    const w = params.weights;
    // What the query scores against itself: the ceiling a perfect paraphrase would reach.
    let self = 0;
    for (const [t, n] of f.tokens) {
      const c = channelIndex(t);
      const id = tokenId.get(t);
      const df = id === undefined ? 0 : (postings[id]?.length ?? 0);
      self += w[c]! * idf(df) * tfNorm(n, f.lengths[c]!, avgS[c]!);
    }
    const maxDf = params.maxDocShare * (count.sentence + count.answer);
    let nTouched = 0;
    for (const [t, n, mult] of queryTokens(f)) {
      const id = tokenId.get(t);
      if (id === undefined) continue;
      const p = postings[id];
      if (!p || p.length > maxDf) continue;
      const c = tokenChannel[id]!;
      const weight = w[c]! * idf(p.length) * mult * n;
      if (weight === 0) continue;
      const lens = docLen[c]!;
      const avgSc = avgS[c]!;
      const avgAc = avgA[c]!;
      for (let i = 0; i < p.length; i++) {
        const v = p[i]!;
        const doc = v >>> TF_BITS;
        const s = weight * tfNorm(v & TF_MAX, lens[doc]!, docAnswer[doc] ? avgAc : avgSc);
        if (acc[doc] === 0) touched[nTouched++] = doc;
        acc[doc]! += s;
      }
    }
    // Entry score: best sentence + a share of the second best + a share of the answer.
    let nEntries = 0;
    for (let i = 0; i < nTouched; i++) {
      const doc = touched[i]!;
      const s = acc[doc]!;
      acc[doc] = 0;
      const slot = docSlot[doc]!;
      if (!entryMark[slot]) {
        entryMark[slot] = 1;
        best1[slot] = best2[slot] = ans[slot] = 0;
        entryTouched[nEntries++] = slot;
      }
      if (docAnswer[doc]) ans[slot] = s;
      else if (s > best1[slot]!) {
        best2[slot] = best1[slot]!;
        best1[slot] = s;
      } else if (s > best2[slot]!) best2[slot] = s;
    }
    const now = options.now ?? new Date();
    const ranked: Array<[string, number, number, number]> = [];
    for (let i = 0; i < nEntries; i++) {
      const slot = entryTouched[i]!;
      entryMark[slot] = 0;
      const id = slotId[slot]!;
      const e = entries.get(id)!.entry;
      if (!eligible(e, options, now)) continue;
      const s1 = best1[slot]!;
      const s2 = best2[slot]!;
      ranked.push([id, s1 + params.secondSentenceWeight * s2 + params.answerWeight * ans[slot]!, s1, s2]);
    }
    ranked.sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
    const top = ranked.slice(0, Math.max(limit, 2));
    const first = top[0]?.[1] ?? 0;
    const second = top[1]?.[1] ?? 0;
    const { a, s: sp, m, i: wi, c } = params.confidence;
    const info = Math.log(1 + self);
    const results: MatchResult[] = top.slice(0, limit).map(([id, score, s1, s2], i) => {
      const ratio = self > 0 ? Math.min(1, s1 / self) : 0;
      const support = self > 0 ? Math.min(1, s2 / self) : 0;
      const margin = first <= 0 ? 0 : i === 0 ? (first - second) / first : (score - first) / first;
      const confidence = sigmoid(a * ratio + sp * support + m * margin + wi * info + c);
      return options.explain
        ? { id, score, confidence, features: { ratio, support, margin, info } }
        : { id, score, confidence };
    });
    return { results, band: bandFor(results[0]?.confidence, thresholds) };
  }

  dictionary = (input.dictionary ?? []).map((w) => w.trim()).filter(Boolean);
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
