// Measures a matcher against a labelled query file (`kb eval`): ranking quality without
// thresholds, the bot's behaviour at two thresholds, suggested thresholds, the worst misses, a
// character-n-gram TF-IDF baseline, and the k-fold learning figures (the labelled queries of the
// other folds added as similar questions). Pure functions; the CLI reads files and prints.
import { normalizeText } from '../../../platform/text/normalize.ts';
import { bandFor, createMatcher, DEFAULT_PARAMS, type RankingParams } from './matcher.ts';
import type { MatchEntry, MatcherInput, Thresholds } from './types.ts';

export interface LabelledQuery {
  query: string;
  /** The entry's external id (or id), or null: out of scope, nothing should be answered. */
  expected: string | null;
}

export interface Prediction {
  query: string;
  expected: string | null;
  /** Best first, as external ids, at most 3. */
  top: string[];
  confidence: number;
}

export interface Figures {
  top1: number;
  top3: number;
  answerPrecision: number;
  answerCoverage: number;
  oosSafety: number;
}

export interface Counts {
  inScope: number;
  outOfScope: number;
  answered: number;
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

export function keyOf(e: MatchEntry): string {
  return e.externalId ?? e.id;
}

/** Runs every query through a matcher over `entries`. */
export function predict(
  input: MatcherInput & { entries: readonly MatchEntry[] },
  queries: readonly LabelledQuery[],
  params: RankingParams = DEFAULT_PARAMS,
): Prediction[] {
  const matcher = createMatcher(input, params);
  const key = new Map(input.entries.map((e) => [e.id, keyOf(e)]));
  return queries.map((q) => {
    const out = matcher.match(q.query, { limit: 3 });
    return {
      query: q.query,
      expected: q.expected,
      top: out.results.map((r) => key.get(r.id) ?? r.id),
      confidence: out.results[0]?.confidence ?? 0,
    };
  });
}

export function figures(predictions: readonly Prediction[], t: Thresholds): Figures & Counts {
  let inScope = 0;
  let outOfScope = 0;
  let hit1 = 0;
  let hit3 = 0;
  let answered = 0;
  let answeredRight = 0;
  let oosSafe = 0;
  for (const p of predictions) {
    const band = p.top.length ? bandFor(p.confidence, t) : 'handoff';
    if (p.expected === null) {
      outOfScope++;
      if (band !== 'answer') oosSafe++;
      else answered++;
      continue;
    }
    inScope++;
    const right = p.top[0] === p.expected;
    if (right) hit1++;
    if (p.top.includes(p.expected)) hit3++;
    if (band === 'answer') {
      answered++;
      if (right) answeredRight++;
    }
  }
  return {
    top1: ratio(hit1, inScope),
    top3: ratio(hit3, inScope),
    answerPrecision: answered === 0 ? 1 : ratio(answeredRight, answered),
    answerCoverage: ratio(answeredRight, inScope),
    oosSafety: outOfScope === 0 ? 1 : ratio(oosSafe, outOfScope),
    inScope,
    outOfScope,
    answered,
  };
}

export interface Targets {
  answerPrecision: number;
  oosSafety: number;
  /** Share of the queries whose top 3 holds the right entry that may fall to hand-off. */
  suggestLoss: number;
}

export const DEFAULT_TARGETS: Targets = { answerPrecision: 0.9, oosSafety: 0.95, suggestLoss: 0.1 };

/**
 * Thresholds to suggest: the lowest answer threshold meeting the precision and out-of-scope
 * safety targets (the most coverage they allow), and the highest suggest threshold that still
 * keeps at least 1 − suggestLoss of the queries whose top 3 is right out of the hand-off band.
 * `met` is false when no threshold meets the targets (the answer threshold is then 1: never
 * answer directly).
 */
export function suggestThresholds(
  predictions: readonly Prediction[],
  targets: Targets = DEFAULT_TARGETS,
): Thresholds & { met: boolean } {
  const candidates = [...new Set(predictions.map((p) => round(p.confidence)))].sort((a, b) => a - b);
  let answer = 1;
  let met = false;
  for (const t of candidates) {
    if (t <= 0) continue;
    const f = figures(predictions, { answer: t, suggest: 0 });
    if (f.answerPrecision >= targets.answerPrecision && f.oosSafety >= targets.oosSafety) {
      answer = t;
      met = true;
      break;
    }
  }
  const rightTop3 = predictions
    .filter((p) => p.expected !== null && p.top.includes(p.expected))
    .map((p) => p.confidence)
    .sort((a, b) => a - b);
  const k = Math.floor(rightTop3.length * targets.suggestLoss);
  const suggest = Math.min(answer, round(Math.max(0, (rightTop3[k] ?? 0) - 0.0005)));
  return { answer, suggest, met };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export interface Miss {
  query: string;
  expected: string | null;
  got: string | undefined;
  confidence: number;
  inTop3: boolean;
}

/** The worst misses: wrong top results, most confident first (answered wrongly first of all). */
export function worstMisses(predictions: readonly Prediction[], n: number): Miss[] {
  return predictions
    .filter((p) => (p.expected === null ? p.top.length > 0 : p.top[0] !== p.expected))
    .sort((a, b) => b.confidence - a.confidence)
    .slice(0, n)
    .map((p) => ({
      query: p.query,
      expected: p.expected,
      got: p.top[0],
      confidence: p.confidence,
      inTop3: p.expected !== null && p.top.includes(p.expected),
    }));
}

/** The entry pairs most often confused (expected → returned first), with counts. */
export function confusionPairs(
  predictions: readonly Prediction[],
  n: number,
): Array<{ expected: string; got: string; count: number }> {
  const counts = new Map<string, number>();
  for (const p of predictions) {
    if (p.expected === null || !p.top[0] || p.top[0] === p.expected) continue;
    const k = `${p.expected}\u0000${p.top[0]}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, count]) => {
      const [expected, got] = k.split('\u0000') as [string, string];
      return { expected, got, count };
    });
}

/**
 * k-fold learning: the in-scope queries are split into k folds (in file order); for each fold the
 * queries of the other folds are added as similar questions of their entries and the fold is
 * evaluated, with every out-of-scope query. Returns all predictions pooled.
 */
export function learningPredictions(
  input: MatcherInput & { entries: readonly MatchEntry[] },
  queries: readonly LabelledQuery[],
  k: number,
  params: RankingParams = DEFAULT_PARAMS,
): Prediction[] {
  const inScope = queries.filter((q) => q.expected !== null);
  const oos = queries.filter((q) => q.expected === null);
  const out: Prediction[] = [];
  for (let fold = 0; fold < k; fold++) {
    const extra = new Map<string, string[]>();
    const test: LabelledQuery[] = [];
    inScope.forEach((q, i) => {
      if (i % k === fold) test.push(q);
      else extra.set(q.expected!, [...(extra.get(q.expected!) ?? []), q.query]);
    });
    const entries = input.entries.map((e) => ({
      ...e,
      similar: [...e.similar, ...(extra.get(keyOf(e)) ?? [])],
    }));
    out.push(...predict({ ...input, entries }, [...test, ...oos], params));
  }
  return out;
}

/**
 * The reference point: cosine of character unigram + bigram TF-IDF vectors against the standard
 * questions (and similar questions), text folded only by removing punctuation and spaces.
 */
export function baselinePredictions(
  entries: readonly MatchEntry[],
  queries: readonly LabelledQuery[],
): Prediction[] {
  const grams = (s: string): Map<string, number> => {
    const chars = [...s.replace(/[\p{P}\p{S}\s]+/gu, '')];
    const m = new Map<string, number>();
    for (let i = 0; i < chars.length; i++) {
      m.set(chars[i]!, (m.get(chars[i]!) ?? 0) + 1);
      if (i + 1 < chars.length) {
        const b = chars[i]! + chars[i + 1]!;
        m.set(b, (m.get(b) ?? 0) + 1);
      }
    }
    return m;
  };
  const docs = entries.flatMap((e) =>
    [e.question, ...e.similar].map((s) => ({ key: keyOf(e), g: grams(s) })),
  );
  const df = new Map<string, number>();
  for (const d of docs) for (const t of d.g.keys()) df.set(t, (df.get(t) ?? 0) + 1);
  const n = docs.length;
  const vec = (g: Map<string, number>): Map<string, number> => {
    const v = new Map<string, number>();
    let norm = 0;
    for (const [t, c] of g) {
      const w = c * (Math.log((1 + n) / (1 + (df.get(t) ?? 0))) + 1);
      v.set(t, w);
      norm += w * w;
    }
    norm = Math.sqrt(norm) || 1;
    for (const [t, w] of v) v.set(t, w / norm);
    return v;
  };
  const dv = docs.map((d) => ({ key: d.key, v: vec(d.g) }));
  return queries.map((q) => {
    const qv = vec(grams(q.query));
    const best = new Map<string, number>();
    for (const d of dv) {
      let s = 0;
      for (const [t, w] of qv) s += w * (d.v.get(t) ?? 0);
      if (s > (best.get(d.key) ?? -1)) best.set(d.key, s);
    }
    const top = [...best].sort((a, b) => b[1] - a[1]).slice(0, 3);
    return { query: q.query, expected: q.expected, top: top.map((t) => t[0]), confidence: top[0]?.[1] ?? 0 };
  });
}

/** A labelled-query line, checked. Throws an Error naming the line and the field. */
export function parseQueryLine(line: string, lineNo: number): LabelledQuery {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`line ${lineNo}: not JSON`);
  }
  const o = v as { query?: unknown; expected?: unknown };
  if (typeof o.query !== 'string') throw new Error(`line ${lineNo}: "query" must be a string`);
  if (o.expected !== null && typeof o.expected !== 'string')
    throw new Error(`line ${lineNo}: "expected" must be an entry id or null`);
  return { query: o.query, expected: o.expected };
}

/** An FAQ line of the dev set's shape: {"id", "question", "answer"?, "category"?, "similar"?}. */
export function parseFaqLine(line: string, lineNo: number): MatchEntry {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`line ${lineNo}: not JSON`);
  }
  const o = v as Record<string, unknown>;
  if (typeof o.id !== 'string' || !o.id) throw new Error(`line ${lineNo}: "id" must be a non-empty string`);
  if (typeof o.question !== 'string' || !normalizeText(o.question))
    throw new Error(`line ${lineNo}: "question" must be a non-empty string`);
  if (o.answer !== undefined && typeof o.answer !== 'string')
    throw new Error(`line ${lineNo}: "answer" must be a string`);
  if (o.category !== undefined && typeof o.category !== 'string')
    throw new Error(`line ${lineNo}: "category" must be a string`);
  if (o.similar !== undefined && !(Array.isArray(o.similar) && o.similar.every((s) => typeof s === 'string')))
    throw new Error(`line ${lineNo}: "similar" must be a list of strings`);
  return {
    id: o.id,
    externalId: o.id,
    question: o.question,
    similar: o.similar ?? [],
    answer: o.answer ?? '',
    ...(typeof o.category === 'string' ? { category: o.category } : {}),
    enabled: true,
  };
}

export function parseJsonLines<T>(text: string, parse: (line: string, lineNo: number) => T): T[] {
  const out: T[] = [];
  text
    .replace(/^\uFEFF/u, '')
    .split(/\r?\n/u)
    .forEach((line, i) => {
      if (line.trim()) out.push(parse(line, i + 1));
    });
  return out;
}
