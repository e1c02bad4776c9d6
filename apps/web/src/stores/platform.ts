import type { RouterOutputs } from '@tianqi/api/client';
import { defineStore } from 'pinia';
import { ref } from 'vue';
import { api } from '../api/client.js';

/** What this installation offers (the jumpbox's port), asked once per sign-in. */
export const usePlatform = defineStore('platform', () => {
  const info = ref<RouterOutputs['platform']['info'] | null>(null);
  let asked: Promise<unknown> | null = null;
  function load() {
    asked ??= api.platform.info.query().then(
      (i) => (info.value = i),
      () => (asked = null),
    );
    return asked;
  }
  return { info, load };
});
