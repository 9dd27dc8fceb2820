// Chinese text folding and segmentation (server/src/platform/text), shared by FAQ matching,
// search and quality inspection.
import { describe, expect, it } from 'vitest';
import { analyzeText, normalizeText } from '../../src/platform/text/normalize.ts';
import { createSegmenter } from '../../src/platform/text/segment.ts';

describe('normalizeText', () => {
  it('folds traditional characters to simplified', () => {
    expect(normalizeText('退貨地址在哪裡')).toBe('退货地址在哪里');
    expect(normalizeText('營業時間')).toBe('营业时间');
  });

  it('folds full-width letters, digits, punctuation and spaces to half-width, and case', () => {
    expect(normalizeText('ＡＰＰ　登录１２３')).toBe('app 登录123');
    expect(normalizeText('Hello，ＷＯＲＬＤ！')).toBe('hello world');
  });

  it('turns punctuation and symbols into single spaces', () => {
    expect(normalizeText('“你好”？？……请问 —— 在吗!!!')).toBe('你好 请问 在吗');
    expect(normalizeText('  ')).toBe('');
  });

  it('removes emoticon codes and reports them', () => {
    expect(analyzeText('还不到账/流泪/流泪')).toEqual({ text: '还不到账', emoticons: ['流泪', '流泪'] });
    expect(analyzeText('太慢了[发怒]')).toEqual({ text: '太慢了', emoticons: ['发怒'] });
    // Longest name first: "/快哭了" is one code, not "/快" + 哭了.
    expect(analyzeText('/快哭了 怎么办').emoticons).toEqual(['快哭了']);
    // Brackets around ordinary text stay text.
    expect(normalizeText('[订单号]123')).toBe('订单号 123');
    // An emoji-only or emoticon-only message folds to nothing.
    expect(normalizeText('/微笑/微笑 😀👍')).toBe('');
  });

  it('removes a leading list marker or menu choice', () => {
    expect(normalizeText('3#没有解决问题')).toBe('没有解决问题');
    expect(normalizeText('1:怎么还款')).toBe('怎么还款');
    expect(normalizeText('2、退货')).toBe('退货');
    expect(normalizeText('100元怎么退')).toBe('100元怎么退');
  });

  it('keeps punctuation on request', () => {
    expect(normalizeText('你好，世界！', { keepPunctuation: true })).toBe('你好,世界!');
  });
});

describe('createSegmenter', () => {
  it('cuts Chinese into words and drops particles and courtesy words', () => {
    const s = createSegmenter();
    const words = s.words(normalizeText('您好，请问退货地址在哪里呢？'));
    expect(words).toContain('退货');
    expect(words).toContain('地址');
    expect(words).not.toContain('呢');
    expect(words).not.toContain('请问');
  });

  it('keeps domain dictionary words whole, and a new dictionary applies at once', () => {
    const s = createSegmenter();
    const before = s.words('星云宝额度怎么提升');
    expect(before).not.toContain('星云宝');
    s.setDictionary(['星云宝']);
    expect(s.words('星云宝额度怎么提升')).toContain('星云宝');
    s.setDictionary([]);
    expect(s.words('星云宝额度怎么提升')).not.toContain('星云宝');
  });

  it('segments traditional input the same way once folded', () => {
    const s = createSegmenter();
    expect(s.words(normalizeText('修改收貨地址'))).toEqual(s.words(normalizeText('修改收货地址')));
  });
});
