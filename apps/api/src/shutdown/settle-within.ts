/**
 * Waits for every promise to settle, or for `ms` to pass, whichever is first. The timer is cleared
 * either way: one left to run out would keep a process that has otherwise stopped alive until it does.
 */
export async function settleWithin(promises: Iterable<Promise<unknown>>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled(promises),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
