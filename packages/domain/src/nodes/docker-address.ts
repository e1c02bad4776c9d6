import { z } from 'zod';

/**
 * Where a node's Docker engine answers: `unix:///var/run/docker.sock`, `tcp://10.0.0.5:2376`, or the
 * seed's bare `10.0.0.5:2376` (read as tcp). Normalised to the URL form.
 */
export const dockerAddressSchema = z
  .string()
  .trim()
  .max(255)
  .transform((s) => (/^[a-z]+:\/\//.test(s) ? s : `tcp://${s}`))
  .refine(
    (s) =>
      /^unix:\/\/\/[\w./-]+$/.test(s) ||
      (/^tcp:\/\/(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.test(s) &&
        Number(s.split(':').at(-1)) <= 65_535),
    'a Docker address is "tcp://host:port" (or "host:port") or "unix:///path/to/docker.sock"',
  );

export function isTcpAddress(address: string): boolean {
  return address.startsWith('tcp://');
}
