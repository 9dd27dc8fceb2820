// The FAQ matcher (server/src/modules/knowledge/matcher): ranking, confidence bands, synonyms,
// dictionary, typo and homophone robustness, incremental updates, scope and validity.
import { describe, expect, it } from 'vitest';
import { bandFor, createMatcher } from '../../src/modules/knowledge/matcher/matcher.ts';
import type { MatchEntry } from '../../src/modules/knowledge/matcher/types.ts';

const entry = (id: string, question: string, extra: Partial<MatchEntry> = {}): MatchEntry => ({
  id,
  question,
  similar: [],
  answer: '',
  enabled: true,
  ...extra,
});

const SHOP: MatchEntry[] = [
  entry('hours', '营业时间是几点到几点', { answer: '每天 9:00–21:00 营业。' }),
  entry('return-address', '退货地址在哪里', { similar: ['退货寄到哪里'] }),
  entry('delivery', '快递几天能到'),
  entry('invoice', '可以开发票吗'),
  entry('password', '忘记登录密码怎么办'),
  entry('cancel', '如何取消订单'),
];

const top = (m: ReturnType<typeof createMatcher>, q: string): string | undefined => m.match(q).results[0]?.id;

describe('createMatcher ranking', () => {
  const m = createMatcher({ entries: SHOP });

  it('finds the entry for a paraphrase, traditional text, full-width text and emoticon codes', () => {
    expect(top(m, '退货寄到什么地址')).toBe('return-address');
    expect(top(m, '退貨地址是哪裡？')).toBe('return-address');
    expect(top(m, '＂可以开发票吗＂？/流泪')).toBe('invoice');
    expect(top(m, '3#取消订单')).toBe('cancel');
  });

  it('catches a homophone typo through pinyin (快地 for 快递) and a wrong character (登陆)', () => {
    expect(top(m, '快地几天到')).toBe('delivery');
    expect(top(m, '登陆密码忘了')).toBe('password');
  });

  it('returns at most `limit` results, best first, with confidences in 0..1', () => {
    const out = m.match('退货地址', { limit: 2 });
    expect(out.results.length).toBeLessThanOrEqual(2);
    expect(out.results[0]!.id).toBe('return-address');
    for (const r of out.results) {
      expect(r.confidence).toBeGreaterThanOrEqual(0);
      expect(r.confidence).toBeLessThanOrEqual(1);
    }
    expect(out.results[0]!.confidence).toBeGreaterThan(out.results[1]?.confidence ?? 0);
  });

  it('hands off an empty, punctuation-only or emoji-only message', () => {
    for (const q of ['', '？？？', '😀😀', '/微笑'])
      expect(m.match(q)).toEqual({ results: [], band: 'handoff' });
  });

  it('handles a 5,000-character message quickly', () => {
    const long = '退货地址'.repeat(1250);
    const t = performance.now();
    const out = m.match(long);
    expect(performance.now() - t).toBeLessThan(1000);
    expect(out.results[0]?.id).toBe('return-address');
  });

  it('gives a question about something the knowledge base has never heard of a lower confidence', () => {
    const known = m.match('忘记登录密码怎么办').results[0]!;
    const unknown = m.match('忘记了股票账户的交易密码怎么办').results[0]!;
    expect(unknown.confidence).toBeLessThan(known.confidence);
  });
});

describe('bands', () => {
  it('answers at or above the answer threshold, suggests between, hands off below', () => {
    const t = { answer: 0.8, suggest: 0.3 };
    expect(bandFor(0.8, t)).toBe('answer');
    expect(bandFor(0.79, t)).toBe('suggest');
    expect(bandFor(0.3, t)).toBe('suggest');
    expect(bandFor(0.29, t)).toBe('handoff');
    expect(bandFor(undefined, t)).toBe('handoff');
  });

  it('applies the thresholds given to match', () => {
    const m = createMatcher({ entries: SHOP });
    const c = m.match('退货地址在哪里').results[0]!.confidence;
    expect(m.match('退货地址在哪里', { thresholds: { answer: c, suggest: 0 } }).band).toBe('answer');
    expect(
      m.match('退货地址在哪里', { thresholds: { answer: Math.min(1, c + 0.01), suggest: c } }).band,
    ).toBe('suggest');
    expect(
      m.match('退货地址在哪里', { thresholds: { answer: 1, suggest: Math.min(1, c + 0.01) } }).band,
    ).toBe('handoff');
  });
});

describe('synonyms and dictionary', () => {
  it('a synonym group makes a query word meet the entry word, and a new set applies at once', () => {
    const m = createMatcher({
      entries: [
        entry('vip', '黑金卡的权益'),
        entry('service', '尊享服务怎么取消'),
        entry('gift', '生日礼物怎么领'),
      ],
    });
    expect(top(m, '尊享卡怎么用')).toBe('service');
    m.setSynonyms([['黑金卡', '尊享卡']]);
    expect(top(m, '尊享卡怎么用')).toBe('vip');
    m.setSynonyms([]);
    expect(top(m, '尊享卡怎么用')).toBe('service');
  });

  it('a dictionary word re-segments the entries that contain it', () => {
    const m = createMatcher({ entries: [entry('a', '星云宝怎么开通'), entry('b', '云宝宝贝怎么开通')] });
    m.setDictionary(['星云宝']);
    expect(top(m, '星云宝')).toBe('a');
  });
});

describe('incremental updates', () => {
  it('upsert adds and replaces, remove deletes, without a rebuild', () => {
    const m = createMatcher({ entries: SHOP });
    expect(m.size).toBe(SHOP.length);
    m.upsert(entry('gift-card', '礼品卡怎么充值'));
    expect(top(m, '礼品卡充值')).toBe('gift-card');
    m.upsert(entry('gift-card', '储值卡怎么充值'));
    expect(m.match('礼品').results.find((r) => r.id === 'gift-card')).toBeUndefined();
    expect(top(m, '储值卡充值')).toBe('gift-card');
    m.upsert({ ...SHOP[2]!, similar: ['包裹什么时候送到'] });
    expect(top(m, '包裹什么时候送到')).toBe('delivery');
    m.remove('gift-card');
    expect(m.size).toBe(SHOP.length);
    expect(m.match('储值').results.find((r) => r.id === 'gift-card')).toBeUndefined();
    expect(m.get('delivery')?.similar).toEqual(['包裹什么时候送到']);
  });

  it('many updates leave the same ranking as a fresh build', () => {
    const m = createMatcher({ entries: SHOP });
    for (let i = 0; i < 50; i++) {
      m.upsert(entry(`tmp-${i}`, `临时问题${i}退货地址`));
      m.remove(`tmp-${i}`);
    }
    const fresh = createMatcher({ entries: SHOP });
    for (const q of ['退货寄到哪', '快递几天', '发票'])
      expect(m.match(q).results).toEqual(fresh.match(q).results);
  });
});

describe('eligibility', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const m = createMatcher({
    entries: [
      entry('everywhere', '退货地址在哪里'),
      entry('site-b', '退货地址在哪 B 站', { scope: ['site-b'] }),
      entry('off', '退货地址', { enabled: false }),
      entry('future', '退货地址 新', { validFrom: new Date('2026-07-01T00:00:00Z') }),
      entry('past', '退货地址 旧', { validUntil: new Date('2026-05-01T00:00:00Z') }),
    ],
  });

  it('leaves out disabled, out-of-scope and out-of-validity entries', () => {
    const ids = (scope?: string): string[] =>
      m.match('退货地址', { now, limit: 10, ...(scope ? { scope } : {}) }).results.map((r) => r.id);
    expect(ids('site-a')).toEqual(['everywhere']);
    expect(ids('site-b').sort()).toEqual(['everywhere', 'site-b']);
    expect(ids().sort()).toEqual(['everywhere', 'site-b']);
    expect(
      m.match('退货地址 新', { now: new Date('2026-07-02T00:00:00Z'), limit: 10 }).results.map((r) => r.id),
    ).toContain('future');
  });
});
