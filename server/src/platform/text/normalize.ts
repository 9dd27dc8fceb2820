// Chinese-aware text normalisation shared by everything that compares what people type: FAQ
// matching, search, quality inspection. It folds the differences that do not change meaning:
// full-width and half-width forms, traditional and simplified characters, letter case,
// punctuation, chat emoticon codes ("/流泪", "[微笑]") and list markers ("3#", "1:") that users
// type in front of a message.
import * as OpenCC from 'opencc-js/t2cn';

/** Emoticon names of the common Chinese chat apps, typed as "/name" or "[name]". */
const EMOTICON_NAMES = [
  '微笑',
  '撇嘴',
  '色',
  '发呆',
  '得意',
  '流泪',
  '害羞',
  '闭嘴',
  '睡',
  '大哭',
  '尴尬',
  '发怒',
  '调皮',
  '呲牙',
  '惊讶',
  '难过',
  '酷',
  '冷汗',
  '抓狂',
  '吐',
  '偷笑',
  '可爱',
  '愉快',
  '白眼',
  '傲慢',
  '饥饿',
  '困',
  '惊恐',
  '流汗',
  '憨笑',
  '大兵',
  '悠闲',
  '奋斗',
  '咒骂',
  '疑问',
  '嘘',
  '晕',
  '折磨',
  '衰',
  '骷髅',
  '敲打',
  '再见',
  '擦汗',
  '抠鼻',
  '鼓掌',
  '糗大了',
  '坏笑',
  '左哼哼',
  '右哼哼',
  '哈欠',
  '鄙视',
  '委屈',
  '快哭了',
  '阴险',
  '亲亲',
  '吓',
  '可怜',
  '菜刀',
  '西瓜',
  '啤酒',
  '篮球',
  '乒乓',
  '咖啡',
  '饭',
  '猪头',
  '玫瑰',
  '凋谢',
  '示爱',
  '爱心',
  '心碎',
  '蛋糕',
  '闪电',
  '炸弹',
  '刀',
  '足球',
  '瓢虫',
  '便便',
  '月亮',
  '太阳',
  '礼物',
  '拥抱',
  '强',
  '弱',
  '握手',
  '胜利',
  '抱拳',
  '勾引',
  '拳头',
  '差劲',
  '爱你',
  'NO',
  'OK',
  '爱情',
  '飞吻',
  '跳跳',
  '发抖',
  '怄火',
  '转圈',
  '磕头',
  '回头',
  '跳绳',
  '挥手',
  '激动',
  '街舞',
  '献吻',
  '左太极',
  '右太极',
  '奸笑',
  '机智',
  '皱眉',
  '耶',
  '吃瓜',
  '加油',
  '汗',
  '天啊',
  '社会社会',
  '旺柴',
  '好的',
  '打脸',
  '哇',
  '翻白眼',
  '666',
  '让我看看',
  '叹气',
  '苦涩',
  '裂开',
  '捂脸',
  '嘿哈',
  '哼',
  '生病',
  '破涕为笑',
  '脸红',
  '恐惧',
  '失望',
  '无语',
  '合十',
  '烟花',
  '庆祝',
  '红包',
  '发',
  '福',
];

// Longest names first, so "/快哭了" is not read as "/快" + text.
const sortedNames = [...new Set(EMOTICON_NAMES)].sort((a, b) => b.length - a.length);
const escaped = sortedNames.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
const SLASH_CODE = new RegExp(`/(${escaped.join('|')})`, 'gu');
const BRACKET_CODE = /\[([^\][]{1,6})\]/gu;
const BRACKET_NAMES = new Set(sortedNames.map((n) => n.toLowerCase()));

/** "3#", "1:", "2、", "(1)" in front of a message: a menu choice or list marker, not content. */
const LIST_MARKER = /^\s*[(（]?\d{1,2}\s*(?:#|:|：|、|\.|\)|）)\s*/u;
const PUNCTUATION_OR_SYMBOL = /[\p{P}\p{S}\p{Z}\p{Cc}\p{Cf}]+/gu;

// The package's type declarations use extensionless relative imports that type-aware lint cannot
// resolve; this is the one function used, typed here.
type ConverterFactory = (options: { from: string; to: string }) => (s: string) => string;
const makeConverter = (OpenCC as unknown as { Converter: ConverterFactory }).Converter;

let toSimplified: ((s: string) => string) | undefined;
function simplify(s: string): string {
  // Taiwan variants (and the common Hong Kong ones) fold to mainland simplified characters.
  const convert = (toSimplified ??= makeConverter({ from: 'tw', to: 'cn' }));
  return convert(s);
}

export interface NormalizeOptions {
  /** Keep punctuation (as half-width characters) instead of turning it into spaces. */
  keepPunctuation?: boolean;
}

export interface NormalizedText {
  /** Folded text: half-width, simplified, lower case, words separated by single spaces. */
  text: string;
  /** Emoticon codes found and removed, by name (simplified), in order. */
  emoticons: string[];
}

/**
 * Fold a user's text for comparison. Full-width letters, digits and punctuation become
 * half-width (NFKC), traditional characters become simplified, letters become lower case,
 * emoticon codes and a leading list marker are removed, punctuation and symbols become spaces.
 */
export function analyzeText(input: string, options: NormalizeOptions = {}): NormalizedText {
  const emoticons: string[] = [];
  // Simplified first, so the emoticon names and the tokens downstream are in one script.
  let s = simplify(input.normalize('NFKC'));
  s = s.replace(SLASH_CODE, (_m, name: string) => {
    emoticons.push(name);
    return ' ';
  });
  s = s.replace(BRACKET_CODE, (m, name: string) => {
    if (!BRACKET_NAMES.has(name.toLowerCase())) return m;
    emoticons.push(name);
    return ' ';
  });
  s = s.replace(LIST_MARKER, '');
  s = s.toLowerCase();
  if (!options.keepPunctuation) s = s.replace(PUNCTUATION_OR_SYMBOL, ' ');
  s = s.replace(/\s+/gu, ' ').trim();
  return { text: s, emoticons };
}

/** analyzeText(input).text */
export function normalizeText(input: string, options: NormalizeOptions = {}): string {
  return analyzeText(input, options).text;
}

/** True for a CJK ideograph (the unified block and its extension A). */
export function isHan(ch: string): boolean {
  const c = ch.codePointAt(0) ?? 0;
  return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf);
}
