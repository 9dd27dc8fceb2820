// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from 'vitest';
import en from '../src/i18n/en.ts';
import { createConsoleI18n, LOCALE_STORAGE_KEY, savedLocale, setLocale } from '../src/i18n/index.ts';
import zhCN from '../src/i18n/zh-CN.ts';

function keys(obj: object, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    typeof v === 'object' && v !== null ? keys(v as object, `${prefix}${k}.`) : [`${prefix}${k}`],
  );
}

describe('console languages', () => {
  beforeEach(() => localStorage.clear());

  it('speaks Simplified Chinese by default', () => {
    const i18n = createConsoleI18n();
    expect(i18n.global.locale.value).toBe('zh-CN');
    expect(i18n.global.t('login.submit')).toBe('登录');
    expect(document.documentElement.lang).toBe('zh-CN');
  });

  it('switches to English and remembers it for the next visit', () => {
    const i18n = createConsoleI18n();
    setLocale(i18n.global, 'en');
    expect(i18n.global.t('login.submit')).toBe('Sign in');
    expect(document.documentElement.lang).toBe('en');
    expect(localStorage.getItem(LOCALE_STORAGE_KEY)).toBe('en');
    const nextVisit = createConsoleI18n();
    expect(nextVisit.global.locale.value).toBe('en');
  });

  it('ignores a stored value it does not know', () => {
    localStorage.setItem(LOCALE_STORAGE_KEY, 'xx-YY');
    expect(savedLocale()).toBe('zh-CN');
  });

  it('formats parameters, including a literal | in a message', () => {
    const i18n = createConsoleI18n('zh-CN');
    expect(i18n.global.t('login.locked', { seconds: 30 })).toBe('登录失败次数过多，请在 30 秒后重试。');
    expect(i18n.global.t('canned.placeholderHelp', { example: '{{contact.name|您}}' })).toContain(
      '可用 | 指定缺省值，例如 {{contact.name|您}}',
    );
  });

  it('has every message in both languages', () => {
    expect(keys(en).sort()).toEqual(keys(zhCN).sort());
  });
});
