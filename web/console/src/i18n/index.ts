// vue-i18n with Simplified Chinese by default and English; the choice is remembered in
// localStorage and mirrored to <html lang> so the browser and screen readers know it.
import { createI18n } from 'vue-i18n';
import en from './en.ts';
import zhCN from './zh-CN.ts';

export const LOCALES = ['zh-CN', 'en'] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = 'zh-CN';
export const LOCALE_STORAGE_KEY = 'parley.locale';

export type MessageSchema = typeof zhCN;

function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (LOCALES as readonly string[]).includes(value);
}

function storage(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined; // storage disabled by the browser
  }
}

export function savedLocale(): Locale {
  const saved = storage()?.getItem(LOCALE_STORAGE_KEY);
  return isLocale(saved) ? saved : DEFAULT_LOCALE;
}

export function createConsoleI18n(locale: Locale = savedLocale()) {
  if (typeof document !== 'undefined') document.documentElement.lang = locale;
  return createI18n<[MessageSchema], Locale, false>({
    legacy: false,
    locale,
    fallbackLocale: DEFAULT_LOCALE,
    messages: { 'zh-CN': zhCN, en },
    datetimeFormats: {
      'zh-CN': { short: { dateStyle: 'short', timeStyle: 'short' } },
      en: { short: { dateStyle: 'medium', timeStyle: 'short' } },
    },
  });
}

export type ConsoleI18n = ReturnType<typeof createConsoleI18n>;

/** Switches the language and remembers the choice; `target` is i18n.global or useI18n(). */
export function setLocale(target: { locale: { value: string } }, locale: Locale): void {
  target.locale.value = locale;
  try {
    storage()?.setItem(LOCALE_STORAGE_KEY, locale);
  } catch {
    // storage full or disabled: the choice lasts for this tab only
  }
  if (typeof document !== 'undefined') document.documentElement.lang = locale;
}

export { isLocale };
