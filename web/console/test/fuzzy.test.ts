import { describe, expect, it } from 'vitest';
import { fuzzyFilter, fuzzyScore } from '../src/lib/fuzzy.ts';

describe('fuzzy search for canned replies', () => {
  it('matches characters in order, not necessarily adjacent', () => {
    expect(fuzzyScore('tnk', 'thanks')).not.toBeNull();
    expect(fuzzyScore('knt', 'thanks')).toBeNull();
    expect(fuzzyScore('退款', '退款会在 3–5 个工作日内')).not.toBeNull();
  });

  it('ranks shortcut matches and exact substrings first', () => {
    const replies = [
      { shortcut: 'refund', body: 'thanks for waiting' },
      { shortcut: 'thanks', body: 'Thank you!' },
      { shortcut: 'hello', body: 'Hi there, how can I help?' },
    ];
    const found = fuzzyFilter(replies, 'tnk', (r) => [r.shortcut, r.body]).map((r) => r.shortcut);
    expect(found[0]).toBe('thanks');
    expect(found).not.toContain('hello');
    expect(fuzzyFilter(replies, '', (r) => [r.shortcut])).toHaveLength(3);
  });
});
