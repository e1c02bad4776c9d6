import { defineStore } from 'pinia';
import { ref } from 'vue';
import { whenUnreachable } from '../api/client.js';

/**
 * Whether the server answers. A call that gets no answer turns the banner on; from then the server's
 * health is asked every 2 s until it answers, and the subscriptions (EventSource reconnects by
 * itself, resuming at its last event id) carry on.
 */
export const useConnection = defineStore('connection', () => {
  const lost = ref(false);
  let timer: ReturnType<typeof setInterval> | undefined;

  function check() {
    fetch('/healthz', { cache: 'no-store' }).then(
      (r) => {
        if (r.ok) back();
      },
      () => undefined,
    );
  }
  function back() {
    lost.value = false;
    clearInterval(timer);
    timer = undefined;
  }
  function lose() {
    lost.value = true;
    timer ??= setInterval(check, 2_000);
  }
  whenUnreachable(lose);
  window.addEventListener('offline', lose);
  window.addEventListener('online', check);
  return { lost };
});
