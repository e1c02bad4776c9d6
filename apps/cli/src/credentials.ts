import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { UsageError } from './command.js';

export const DEFAULT_SERVER = 'http://localhost:8888';

const credentialsSchema = z.object({
  server: z.url(),
  token: z.string().min(1),
  username: z.string(),
  expiresAt: z.string().nullable().default(null),
});
export type Credentials = z.output<typeof credentialsSchema>;

/** `$XDG_CONFIG_HOME/tianqi/credentials.json` (default `~/.config/tianqi`). */
export function credentialsFile(): string {
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'tianqi', 'credentials.json');
}

/** The saved session, or null when there is none (or the file is not one we wrote). */
export async function loadCredentials(): Promise<Credentials | null> {
  let text: string;
  try {
    text = await readFile(credentialsFile(), 'utf8');
  } catch {
    return null;
  }
  try {
    return credentialsSchema.parse(JSON.parse(text));
  } catch {
    return null;
  }
}

/** Written to a temporary file then renamed: a crash never leaves half a token; only the owner reads it. */
export async function saveCredentials(credentials: Credentials): Promise<string> {
  const file = credentialsFile();
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await chmod(dirname(file), 0o700);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600); // the umask may have narrowed nothing, but an old file may be wider
  await rename(temporary, file);
  return file;
}

export async function forgetCredentials(): Promise<void> {
  await rm(credentialsFile(), { force: true });
}

/** Where to talk to: --server, else $TIANQI_SERVER, else the saved server, else localhost. */
export function serverUrl(flag: string | undefined, saved: Credentials | null): string {
  const url = (flag ?? process.env.TIANQI_SERVER ?? saved?.server ?? DEFAULT_SERVER).replace(/\/+$/, '');
  if (!z.url({ protocol: /^https?$/ }).safeParse(url).success) {
    throw new UsageError(`the server must be an http(s) URL such as ${DEFAULT_SERVER}, not "${url}"`);
  }
  return url;
}

/** $TIANQI_TOKEN (for scripts) wins over the saved token. */
export function sessionToken(saved: Credentials | null): string | null {
  return process.env.TIANQI_TOKEN || saved?.token || null;
}
