import { darkTheme, useOsTheme } from 'naive-ui';
import { defineStore } from 'pinia';
import { computed, ref, watch } from 'vue';
import { browserLocale, i18n, type Locale, naiveLocales } from '../locales/index.js';

export type ThemeChoice = 'light' | 'dark' | 'system';
const KEY = 'tianqi.preferences';

interface Saved {
  locale?: Locale;
  theme?: ThemeChoice;
}

function saved(): Saved {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? '{}') as Saved;
  } catch {
    return {};
  }
}

/** Language and looks: the browser's until the user picks, then theirs (kept in this browser). */
export const usePreferences = defineStore('preferences', () => {
  const first = saved();
  const locale = ref<Locale>(
    first.locale === 'en' || first.locale === 'zh-CN' ? first.locale : browserLocale(),
  );
  const theme = ref<ThemeChoice>(first.theme ?? 'system');
  const os = useOsTheme();
  const dark = computed(() => (theme.value === 'system' ? os.value === 'dark' : theme.value === 'dark'));
  const naiveTheme = computed(() => (dark.value ? darkTheme : null));
  const naiveLocale = computed(() => naiveLocales[locale.value]);

  watch(
    locale,
    (l) => {
      i18n.global.locale.value = l;
      document.documentElement.lang = l;
    },
    { immediate: true },
  );
  watch([locale, theme], () =>
    localStorage.setItem(KEY, JSON.stringify({ locale: locale.value, theme: theme.value })),
  );
  watch(dark, (d) => document.documentElement.classList.toggle('dark', d), { immediate: true });

  return { locale, theme, dark, naiveTheme, naiveLocale };
});
