import type { NodeCommand } from '@tianqi/domain';
import type Docker from 'dockerode';

export type SystemDiskProbe = Pick<
  Extract<NodeCommand, { type: 'RecordSystemDiskLimit' }>,
  'status' | 'storageDriver' | 'reason'
>;

/** The parts of `docker info` that say which storage driver the node has and on what. */
interface StorageInfo {
  Driver?: string;
  DriverStatus?: [string, string][] | null;
}

/**
 * Whether Docker's `size` storage option can limit a container's system disk on this engine, from its
 * storage driver: btrfs and zfs can; overlay2 only over xfs mounted with `pquota`, which `docker info`
 * does not show (the first create with the limit settles it); nothing else can.
 */
export function systemDiskLimitFromInfo(info: StorageInfo): SystemDiskProbe {
  const driver = info.Driver ?? '';
  const backing = info.DriverStatus?.find(([key]) => key === 'Backing Filesystem')?.[1] ?? '';
  const storageDriver = backing ? `${driver} on ${backing}` : driver;
  if (driver === 'btrfs' || driver === 'zfs') return { status: 'enforced', storageDriver, reason: '' };
  if (driver === 'overlay2' && backing === 'xfs') {
    return {
      status: 'unconfirmed',
      storageDriver,
      reason: "needs xfs mounted with 'pquota'; the first container created here tells",
    };
  }
  return {
    status: 'unsupported',
    storageDriver,
    reason: `storage driver ${storageDriver || 'unknown'}: Docker limits a container's disk only on btrfs, zfs, or overlay2 over xfs with 'pquota'`,
  };
}

/** `docker info` within `timeoutMs`, read as above; null when the engine does not answer in time. */
export async function probeSystemDiskLimit(
  docker: Docker,
  timeoutMs = 5_000,
): Promise<SystemDiskProbe | null> {
  try {
    // dockerode takes an abort signal here; its types do not say so.
    const withSignal = docker as unknown as { info(o: { abortSignal: AbortSignal }): Promise<StorageInfo> };
    const info = await withSignal.info({ abortSignal: AbortSignal.timeout(timeoutMs) });
    return systemDiskLimitFromInfo(info);
  } catch {
    return null;
  }
}

/**
 * Docker refused the `size` storage option (overlay2 without pquota: "--storage-opt is supported only
 * for overlay over xfs with 'pquota' mount option"; other drivers word it alike). Docker answers this
 * with a 500, so it is told apart by its words, not its status.
 */
export function refusedStorageOpt(err: unknown): boolean {
  const e = err as { json?: { message?: string }; message?: string };
  const message = e.json?.message ?? e.message ?? '';
  return /storage-?opt|storage option|quota/i.test(message) && /support|size/i.test(message);
}
