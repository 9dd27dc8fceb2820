import { describe, expect, it } from 'vitest';
import {
  documentTokens,
  likePattern,
  normaliseText,
  queryTerms,
  tsqueryText,
  tsvectorText,
} from '../../src/modules/search/tokenizer.ts';

/** What the GIN index decides: every query term is a token (or a token's prefix). */
function indexMatches(text: string, query: string): boolean {
  const tokens = documentTokens(text);
  return queryTerms(query).every((t) =>
    t.prefix ? tokens.some((d) => d.startsWith(t.token)) : tokens.includes(t.token),
  );
}

describe('search tokens', () => {
  it('cuts CJK into bigrams with the run tail, Latin and digits into trigrams with tails', () => {
    expect(documentTokens('退款申请').sort()).toEqual(['退款', '款申', '申请', '请'].sort());
    expect(documentTokens('Order 12345').sort()).toEqual(
      ['ord', 'rde', 'der', 'er', 'r', '123', '234', '345', '45', '5'].sort(),
    );
    expect(queryTerms('退款')).toEqual([{ token: '退款', prefix: false }]);
    expect(queryTerms('款')).toEqual([{ token: '款', prefix: true }]);
    expect(queryTerms('ab')).toEqual([{ token: 'ab', prefix: true }]);
  });

  it('normalises full-width forms and case the same way on both sides', () => {
    expect(normaliseText('ＡＢＣ１２３')).toBe('abc123');
    expect(indexMatches('订单ＳＯ２０２６１２０７', 'so2026')).toBe(true);
    expect(indexMatches('订单SO20261207', 'ＳＯ２０２６')).toBe(true);
  });

  it('serves every substring of the text (no false negatives), any length', () => {
    const text = '您好，我的订单2026120712345678还没到，电话13800138000，想申请退款 refund please';
    const chars = Array.from(text);
    for (let i = 0; i < chars.length; i++) {
      for (let j = i + 1; j <= Math.min(chars.length, i + 12); j++) {
        const q = chars.slice(i, j).join('');
        if (queryTerms(q).length === 0) continue;
        expect(indexMatches(text, q), q).toBe(true);
      }
    }
  });

  it('quotes lexemes and escapes LIKE wildcards', () => {
    expect(tsvectorText(["it's"])).toBe("'it''s'");
    expect(
      tsqueryText([
        { token: 'ab', prefix: true },
        { token: '退款', prefix: false },
      ]),
    ).toBe("'ab':* & '退款'");
    expect(tsqueryText(queryTerms('%%'))).toBeNull();
    expect(likePattern('50%_a\\')).toBe('%50\\%\\_a\\\\%');
  });
});
