import { TianqiError } from '@tianqi/domain';

/** What an SSH login name asks for: `alice`, `alice+myinst`, or (admins) `admin+bob/inst`. */
export interface LoginName {
  /** The account that signs in. */
  username: string;
  /** A straight route: this instance, skipping the menu. */
  instance: { owner: string | null; name: string } | null;
}

/**
 * Reads `user[+[owner/]instance]`. Usernames cannot contain `+` (the domain forbids it), so the first
 * `+` always ends the account name.
 */
export function parseLoginName(raw: string): LoginName {
  const plus = raw.indexOf('+');
  if (plus < 0) return { username: raw, instance: null };
  const username = raw.slice(0, plus);
  const target = raw.slice(plus + 1);
  const slash = target.indexOf('/');
  const owner = slash < 0 ? null : target.slice(0, slash);
  const name = slash < 0 ? target : target.slice(slash + 1);
  if (!username || !name || owner === '') {
    throw new TianqiError('validation', 'log in as user, user+instance or user+owner/instance');
  }
  return { username, instance: { owner, name } };
}
