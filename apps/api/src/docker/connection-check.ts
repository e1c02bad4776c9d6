import type Docker from 'dockerode';

export type ConnectionCheck = { ok: true; version: string } | { ok: false; reason: string };

/** Asks the engine for its version, within `timeoutMs`, and says in plain words why it failed. */
export async function checkConnection(docker: Docker, timeoutMs = 5_000): Promise<ConnectionCheck> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const version = await Promise.race([
      docker.version(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
          timeoutMs,
        );
      }),
    ]);
    return { ok: true, version: String(version.Version) };
  } catch (err) {
    return { ok: false, reason: describeConnectionError(err) };
  } finally {
    clearTimeout(timer);
  }
}

export function describeConnectionError(err: unknown): string {
  const e = err as { code?: string; message?: string; statusCode?: number };
  const code = e.code ?? '';
  const message = e.message ?? String(err);
  if (code === 'ECONNREFUSED') return `connection refused (${message})`;
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT' || /timed? ?out/i.test(message)) return 'timed out';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host not found (${message})`;
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `host unreachable (${message})`;
  if (code === 'ENOENT') return `no Docker socket there (${message})`;
  if (code === 'ECONNRESET' || code === 'EPIPE')
    return `connection reset: a TLS node spoken to without TLS, or the reverse? (${message})`;
  if (/CERT|SSL|TLS|certificate|self.signed|alert/i.test(`${code} ${message}`))
    return `bad certificate: ${message}`;
  if (e.statusCode) return `Docker answered ${e.statusCode}: ${message}`;
  return message;
}
