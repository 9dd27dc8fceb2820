// Turns a text into the weighted tokens the matcher indexes. Four channels, each a different
// view of the same sentence, so that a query can meet an FAQ by any of them:
//   w  words from the segmenter (with the domain dictionary): topic words
//   b  character bigrams: robust to segmentation differences and to words the dictionary lacks
//   u  single characters: a weak signal that survives a one-character typo
//   p  toneless pinyin syllable bigrams: homophone typos (微粒贷 / 威力带 / 微利袋)
import { pinyin } from 'pinyin-pro';
import { isHan, normalizeText } from '../../../platform/text/normalize.ts';
import type { Segmenter } from '../../../platform/text/segment.ts';
import { isStopword } from '../../../platform/text/segment.ts';

export const CHANNELS = ['w', 'b', 'u', 'p'] as const;
export type Channel = (typeof CHANNELS)[number];

/** token (channel prefix + ':' + text) → count in the sentence. */
export type TokenCounts = Map<string, number>;

export interface Features {
  tokens: TokenCounts;
  /** Length per channel (sum of counts), indexed like CHANNELS. */
  lengths: number[];
  /** The segmented words (for synonym expansion). */
  words: string[];
}

/** Longest text considered: a 5,000-character paste is cut, not scanned in full. */
export const MAX_TEXT = 500;

function add(tokens: TokenCounts, key: string): void {
  tokens.set(key, (tokens.get(key) ?? 0) + 1);
}

/**
 * `canonical` maps a word to the representative of its synonym group: the sentence is rewritten
 * with representatives before any channel sees it, so 手机号码 and 电话号码 share characters too.
 */
export function extractFeatures(
  raw: string,
  segmenter: Segmenter,
  canonical?: ReadonlyMap<string, string>,
): Features {
  let text = normalizeText(raw.length > MAX_TEXT * 2 ? raw.slice(0, MAX_TEXT * 2) : raw).slice(0, MAX_TEXT);
  if (canonical && canonical.size > 0)
    text = text
      .split(' ')
      .map((piece) =>
        segmenter
          .cut(piece)
          .map((w) => canonical.get(w) ?? w)
          .join(''),
      )
      .join(' ');
  const tokens: TokenCounts = new Map();
  const lengths = [0, 0, 0, 0];
  const words = segmenter.words(text);
  for (const w of words) {
    add(tokens, `w:${w}`);
    lengths[0]!++;
  }
  for (const piece of text.split(' ')) {
    const chars = [...piece];
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i]!;
      if (!isStopword(c) && (isHan(c) || /[\p{L}\p{N}]/u.test(c))) {
        add(tokens, `u:${c}`);
        lengths[2]!++;
      }
      if (i + 1 < chars.length) {
        add(tokens, `b:${c}${chars[i + 1]}`);
        lengths[1]!++;
      }
    }
    // Pinyin over runs of ideographs: the reading of a character depends on its neighbours.
    for (const run of piece.match(/[\u3400-\u4dbf\u4e00-\u9fff]+/gu) ?? []) {
      if (run.length < 2) continue;
      const syl = pinyin(run, { toneType: 'none', type: 'array', v: true });
      for (let i = 0; i + 1 < syl.length; i++) {
        add(tokens, `p:${syl[i]}_${syl[i + 1]}`);
        lengths[3]!++;
      }
    }
  }
  return { tokens, lengths, words };
}

export function channelIndex(token: string): number {
  switch (token.charCodeAt(0)) {
    case 119: // w
      return 0;
    case 98: // b
      return 1;
    case 117: // u
      return 2;
    default: // p
      return 3;
  }
}
