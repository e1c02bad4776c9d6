import type { RouterOutputs } from '@tianqi/api/client';
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { api } from '../api/client.js';
import { forgetPrefetched } from '../api/prefetch.js';

export type Me = NonNullable<RouterOutputs['auth']['me']>;

/** Tabs of this browser tell each other of a sign-in or sign-out, so all follow at once. */
const channel = typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel('tianqi-session');

/** Who is signed in (from the session cookie the server set: nothing secret is kept here). */
export const useSession = defineStore('session', () => {
  const me = ref<Me | null>(null);
  const loaded = ref(false);
  /** Why the user was sent to sign in, shown there: the session ended, or another tab signed out. */
  const reason = ref<'expired' | 'signedOutElsewhere' | null>(null);
  const isAdmin = computed(() => me.value?.role === 'admin');
  const listeners = new Set<() => void>();

  async function load(): Promise<Me | null> {
    me.value = await api.auth.me.query();
    loaded.value = true;
    return me.value;
  }

  async function signIn(username: string, password: string): Promise<void> {
    const { user } = await api.auth.login.mutate({ username, password, via: 'web' });
    forgetPrefetched();
    me.value = user;
    reason.value = null;
    channel?.postMessage('signed-in');
  }

  /** The first admin, made with the setup code the server printed; signed in as a sign-in would. */
  async function setUp(code: string, username: string, password: string): Promise<void> {
    const { user } = await api.auth.setup.mutate({ code, username, password });
    me.value = user;
    reason.value = null;
    channel?.postMessage('signed-in');
  }

  function ended(why: 'expired' | 'signedOutElsewhere') {
    if (!me.value) return;
    me.value = null;
    reason.value = why;
    for (const l of listeners) l();
  }

  async function signOut(): Promise<void> {
    // Signed out here first and the other tabs told at once, so that the streams the server then ends
    // (401) read as this sign-out, not as a session that expired.
    me.value = null;
    reason.value = null;
    forgetPrefetched();
    channel?.postMessage('signed-out');
    await api.auth.logout.mutate().catch(() => undefined);
    for (const l of listeners) l();
  }

  /** Called when the session is gone (a 401, another tab): the router sends the user to sign in. */
  function onEnded(listener: () => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  channel?.addEventListener('message', (e: MessageEvent) => {
    if (e.data === 'signed-out') ended('signedOutElsewhere');
    if (e.data === 'signed-in' && !me.value) void load();
  });

  return { me, loaded, reason, isAdmin, load, signIn, setUp, signOut, ended, onEnded };
});
