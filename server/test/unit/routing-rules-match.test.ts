// The pure half of routing rules: text folding, the glob matcher (no regular expression, no
// catastrophic case) and condition validation naming the field.
import { describe, expect, it } from 'vitest';
import { fold, globMatch, validateConditions } from '../../src/modules/routing/routing-rules.service.ts';

describe('fold', () => {
  it('folds full-width to half-width and letter case', () => {
    expect(fold('ＩＮＶＯＩＣＥ１２３')).toBe('invoice123');
    expect(fold('退款／投诉')).toBe('退款/投诉');
    expect(fold('Ｒｅｆｕｎｄ')).toBe(fold('REFUND'));
  });
});

describe('globMatch', () => {
  it('* is any run, ? one character, the rest literal (regex characters too)', () => {
    expect(globMatch('https://a.com/*/pricing', 'https://a.com/zh/pricing')).toBe(true);
    expect(globMatch('https://a.com/*/pricing', 'https://a.com/zh/en/pricing')).toBe(true);
    expect(globMatch('https://a.com/*/pricing', 'https://a.com/pricing')).toBe(false);
    expect(globMatch('*?', '')).toBe(false);
    expect(globMatch('a?c', 'abc')).toBe(true);
    expect(globMatch('a?c', 'ac')).toBe(false);
    expect(globMatch('*.com/(x)+', 'https://b.com/(x)+')).toBe(true);
    expect(globMatch('*.com/(x)+', 'https://bcom/xx')).toBe(false);
    expect(globMatch('*', '')).toBe(true);
    expect(globMatch('**产品*', '我们的产品页')).toBe(true);
    expect(globMatch('😀?', '😀😀')).toBe(true);
  });

  it('stays fast on a pattern that is catastrophic for a backtracking regex', () => {
    const pattern = `${'*a'.repeat(30)}*b`;
    const text = 'a'.repeat(2000);
    const started = performance.now();
    expect(globMatch(pattern, text)).toBe(false);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('validateConditions', () => {
  it('names the field of a wrong combination', () => {
    const field = (c: unknown) => {
      try {
        validateConditions([c as never]);
        return null;
      } catch (err) {
        return (err as { details?: { field?: string } }).details?.field ?? null;
      }
    };
    expect(field({ type: 'keywords' })).toBe('conditions.0.values');
    expect(field({ type: 'pageUrl', op: 'glob' })).toBe('conditions.0.value');
    expect(field({ type: 'pageUrl', op: 'glob', value: '   ' })).toBe('conditions.0.value');
    expect(field({ type: 'language', values: ['zh-CN', 'x y'] })).toBe('conditions.0.values.1');
    expect(field({ type: 'attribute', key: 'vip', value: true, match: 'any' })).toBe('conditions.0.match');
    expect(field({ type: 'tags', values: ['vip'] })).toBeNull();
    expect(validateConditions([{ type: 'tags', values: [' vip '] }])).toEqual([
      { type: 'tags', match: 'any', values: ['vip'] },
    ]);
  });
});
