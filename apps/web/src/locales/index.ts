import { dateEnUS, dateZhCN, enUS, zhCN as naiveZhCN } from 'naive-ui';
import { createI18n } from 'vue-i18n';
import en from './en.js';
import zhCN, { type Messages } from './zh-CN.js';

export type Locale = 'zh-CN' | 'en';
export const LOCALES: { value: Locale; label: string }[] = [
  { value: 'zh-CN', label: '简体中文' },
  { value: 'en', label: 'English' },
];

/** zh-CN where the browser asks for Chinese first, else English. */
export function browserLocale(
  languages: readonly string[] = navigator.languages ?? [navigator.language],
): Locale {
  return languages[0]?.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export const i18n = createI18n<[Messages], Locale, false>({
  legacy: false,
  locale: 'zh-CN',
  fallbackLocale: 'en',
  messages: { 'zh-CN': zhCN, en },
  datetimeFormats: {
    'zh-CN': {
      time: { hour: '2-digit', minute: '2-digit', hour12: false },
      seconds: { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false },
      short: {
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        hour12: false,
      },
      long: {
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hour12: false,
      },
    },
    en: {
      time: { hour: '2-digit', minute: '2-digit', hour12: false },
      seconds: { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false },
      short: {
        year: 'numeric',
        month: 'short',
        day: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
        hour12: false,
      },
      long: {
        year: 'numeric',
        month: 'short',
        day: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hour12: false,
      },
    },
  },
});

/** Naive UI's own strings and date formats, switched with the app's language. */
export const naiveLocales = {
  'zh-CN': { locale: naiveZhCN, dateLocale: dateZhCN },
  en: { locale: enUS, dateLocale: dateEnUS },
} as const;

export const $t = i18n.global.t;
