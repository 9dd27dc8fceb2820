// `parley kb eval`: measures FAQ matching against a labelled query file. The knowledge base comes
// from a JSON Lines file (`--faq`, the dev set's shape) or, once the knowledge module stores
// entries, from the database (`loadEntries` below is the seam).
import { readFileSync } from 'node:fs';
import {
  baselinePredictions,
  confusionPairs,
  figures,
  keyOf,
  learningPredictions,
  parseFaqLine,
  parseJsonLines,
  parseQueryLine,
  predict,
  suggestThresholds,
  worstMisses,
  type Figures,
} from '../modules/knowledge/matcher/eval.ts';
import { DEFAULT_THRESHOLDS } from '../modules/knowledge/matcher/matcher.ts';
import type { MatchEntry, MatcherInput, Thresholds } from '../modules/knowledge/matcher/types.ts';

export class KbUsageError extends Error {
  override name = 'KbUsageError';
}

export interface KbEvalOptions {
  queries: string;
  faq?: string;
  folds?: number;
  json: boolean;
  thresholds?: Partial<Thresholds>;
  /** How many of the worst misses to print. */
  misses?: number;
}

/** Where the knowledge base comes from. The database source arrives with the knowledge module. */
export type EntrySource = () => Promise<MatcherInput & { entries: MatchEntry[] }>;

function fileSource(path: string): EntrySource {
  return async () => ({ entries: readJsonLines(path, parseFaqLine, '--faq') });
}

function readJsonLines<T>(path: string, parse: (line: string, n: number) => T, what: string): T[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KbUsageError(`${what}: cannot read ${path} (${(err as Error).message})`);
  }
  try {
    return parseJsonLines(text, parse);
  } catch (err) {
    throw new KbUsageError(`${what} ${path}: ${(err as Error).message}`);
  }
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

export async function kbEval(options: KbEvalOptions, source?: EntrySource): Promise<number> {
  const load =
    source ??
    (options.faq
      ? fileSource(options.faq)
      : () => {
          throw new KbUsageError(
            'kb eval: the knowledge base in the database is not available in this build; give --faq FAQ.jsonl',
          );
        });
  const input = await load();
  const queries = readJsonLines(options.queries, parseQueryLine, 'queries');
  if (input.entries.length === 0) throw new KbUsageError('kb eval: the knowledge base has no entries');
  const known = new Set(input.entries.map(keyOf));
  const unknown = queries.find((q) => q.expected !== null && !known.has(q.expected));
  if (unknown)
    throw new KbUsageError(`queries: "expected": "${unknown.expected}" names no entry of the knowledge base`);
  const t: Thresholds = {
    answer: options.thresholds?.answer ?? DEFAULT_THRESHOLDS.answer,
    suggest: options.thresholds?.suggest ?? DEFAULT_THRESHOLDS.suggest,
  };
  if (!(t.answer >= 0 && t.answer <= 1 && t.suggest >= 0 && t.suggest <= t.answer))
    throw new KbUsageError('thresholds: 0 ≤ --suggest-threshold ≤ --answer-threshold ≤ 1');

  const cold = predict(input, queries);
  const coldAt = figures(cold, t);
  const coldSuggested = suggestThresholds(cold);
  const coldAtSuggested = figures(cold, coldSuggested);
  const baseline = figures(baselinePredictions(input.entries, queries), t);
  const folds = options.folds ?? 0;
  let learning: { at: Figures; suggested: Thresholds & { met: boolean }; atSuggested: Figures } | undefined;
  if (folds >= 2) {
    const lp = learningPredictions(input, queries, folds);
    const suggested = suggestThresholds(lp);
    learning = { at: figures(lp, t), suggested, atSuggested: figures(lp, suggested) };
  }

  if (options.json) {
    const pick = (f: Figures): Figures => ({
      top1: f.top1,
      top3: f.top3,
      answerPrecision: f.answerPrecision,
      answerCoverage: f.answerCoverage,
      oosSafety: f.oosSafety,
    });
    console.log(
      JSON.stringify({
        ...pick(coldAt),
        thresholds: t,
        inScope: coldAt.inScope,
        outOfScope: coldAt.outOfScope,
        suggested: { thresholds: coldSuggested, ...pick(coldAtSuggested) },
        baseline: { top1: baseline.top1, top3: baseline.top3 },
        ...(learning
          ? {
              learning: {
                folds,
                ...pick(learning.at),
                suggested: { thresholds: learning.suggested, ...pick(learning.atSuggested) },
              },
            }
          : {}),
      }),
    );
    return 0;
  }

  const questionOf = new Map(input.entries.map((e) => [keyOf(e), e.question]));
  const out: string[] = [];
  out.push(
    `knowledge base: ${input.entries.length} entries; queries: ${coldAt.inScope} in scope, ${coldAt.outOfScope} out of scope`,
  );
  out.push('');
  out.push('ranking (in-scope queries, no thresholds)');
  out.push(`  cold        top-1 ${pct(coldAt.top1)}   top-3 ${pct(coldAt.top3)}`);
  out.push(
    `  baseline    top-1 ${pct(baseline.top1)}   top-3 ${pct(baseline.top3)}   (character uni+bigram TF-IDF cosine)`,
  );
  if (learning)
    out.push(
      `  learning    top-1 ${pct(learning.at.top1)}   top-3 ${pct(learning.at.top3)}   (${folds}-fold: other folds' queries added as similar questions)`,
    );
  out.push('');
  const behaviour = (label: string, f: Figures, th: Thresholds): string =>
    `  ${label.padEnd(34)} answer ≥ ${th.answer.toFixed(3)}, suggest ≥ ${th.suggest.toFixed(3)}: ` +
    `precision ${pct(f.answerPrecision)}, coverage ${pct(f.answerCoverage)}, out-of-scope safety ${pct(f.oosSafety)}`;
  out.push('bot behaviour');
  out.push(behaviour('cold, thresholds in force', coldAt, t));
  out.push(
    behaviour(
      `cold, suggested${coldSuggested.met ? '' : ' (targets not met)'}`,
      coldAtSuggested,
      coldSuggested,
    ),
  );
  if (learning) {
    out.push(behaviour('learning, thresholds in force', learning.at, t));
    out.push(
      behaviour(
        `learning, suggested${learning.suggested.met ? '' : ' (targets not met)'}`,
        learning.atSuggested,
        learning.suggested,
      ),
    );
  }
  out.push('');
  out.push(
    `suggested thresholds: answer ${coldSuggested.answer.toFixed(3)}, suggest ${coldSuggested.suggest.toFixed(3)} ` +
      '(lowest answer threshold with precision ≥ 90 % and out-of-scope safety ≥ 95 %; suggest keeps 90 % of right top-3 out of hand-off)',
  );
  out.push('');
  out.push('most confused (expected → returned first, count)');
  for (const p of confusionPairs(cold, 10))
    out.push(
      `  ${p.count}×  ${p.expected} ${questionOf.get(p.expected) ?? ''}  →  ${p.got} ${questionOf.get(p.got) ?? ''}`,
    );
  out.push('');
  out.push('worst misses (most confident first)');
  for (const m of worstMisses(cold, options.misses ?? 15)) out.push(`  ${describeMiss(m, questionOf)}`);
  console.log(out.join('\n'));
  return 0;
}

function describeMiss(m: ReturnType<typeof worstMisses>[number], questionOf: Map<string, string>): string {
  const expected = m.expected === null ? 'out of scope' : `${m.expected} ${questionOf.get(m.expected) ?? ''}`;
  const got = m.got === undefined ? 'nothing' : `${m.got} ${questionOf.get(m.got) ?? ''}`;
  return `${m.confidence.toFixed(3)}  "${m.query}"  expected ${expected}; got ${got}${m.inTop3 ? ' (expected in top 3)' : ''}`;
}
