import { onUnmounted, ref } from 'vue';

/** Seconds left of a wait the server asked for (a rate limit), counted down once a second. */
export function useCountdown() {
  const left = ref(0);
  let timer: ReturnType<typeof setInterval> | undefined;
  function start(seconds: number) {
    left.value = Math.ceil(seconds);
    clearInterval(timer);
    timer = setInterval(() => {
      left.value -= 1;
      if (left.value <= 0) clearInterval(timer);
    }, 1_000);
  }
  onUnmounted(() => clearInterval(timer));
  return { left, start };
}
