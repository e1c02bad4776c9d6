import type { RouterInputs, RouterOutputs } from '@tianqi/api/client';
import { api } from './client.js';

type ListInput = Exclude<RouterInputs['instances']['list'], void>;
type ListPage = RouterOutputs['instances']['list'];

/** The list's first page as a page load asks for it (no filter, the default page size). */
export const FIRST_PAGE: ListInput = { limit: 50, offset: 0 };

let early: { key: string; page: Promise<ListPage>; at: number } | null = null;
/** Past this, an early page is too old to show as the list's first rows. */
const FRESH_MS = 5_000;

/**
 * On a page load of the list, its first page is asked for while the session and the page's code are
 * still on their way, instead of once the page has rendered: the rows then come with the first render.
 */
export function prefetchInstanceList(): void {
  const page = api.instances.list.query(FIRST_PAGE);
  // Refused (not signed in: the guard sends the user to sign in): the list asks again when it opens.
  page.catch(() => {
    if (early?.page === page) early = null;
  });
  early = { key: JSON.stringify(FIRST_PAGE), page, at: Date.now() };
}

/** The list page for this input: the one asked for early if it is that one (once), else a new query. */
export function instanceListPage(input: ListInput): Promise<ListPage> {
  const key = JSON.stringify(Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)));
  const taken = early?.key === key && Date.now() - early.at < FRESH_MS ? early.page : null;
  early = null;
  return taken ?? api.instances.list.query(input);
}

/** Signed in or out: a page asked for early belongs to whoever was signed in then. */
export function forgetPrefetched(): void {
  early = null;
}
