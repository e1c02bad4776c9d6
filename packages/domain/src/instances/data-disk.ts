import { z } from 'zod';

/** What the platform does when an instance's `/data` holds more than its spec's data disk. */
export const dataDiskPolicySchema = z.enum(['stop', 'warn']);
export type DataDiskPolicy = z.output<typeof dataDiskPolicySchema>;

const GiB = 1024 ** 3;

/** Bytes as the specs count disks (GB of 1024³ bytes), to two decimals: `1.07 GB`. */
export function gb(bytes: number): string {
  return `${Number((bytes / GiB).toFixed(2))} GB`;
}

export const dataDiskUsageSchema = z.object({
  usedBytes: z.number().int().min(0),
  limitBytes: z.number().int().min(1),
});
export type DataDiskUsage = z.output<typeof dataDiskUsageSchema>;

/** Why the platform stopped an instance, as its history says it. */
export const dataDiskStopReason = (u: DataDiskUsage) =>
  `its data disk holds ${gb(u.usedBytes)}, over the ${gb(u.limitBytes)} of its spec`;

/**
 * One measurement of `/data` against the spec: the first one over the size warns (the owner has until
 * the next sync to make room); one still over after the warning stops the instance under `stop`; one
 * back under the size ends the warning. Each start begins a new grace.
 */
export function dataDiskDecision(
  usage: DataDiskUsage & { policy: DataDiskPolicy },
  state: { over: DataDiskUsage | null; desired: string },
): { kind: 'warn' } | { kind: 'stop'; reason: string } | { kind: 'back_under' } | { kind: 'nothing' } {
  const over = usage.usedBytes > usage.limitBytes;
  if (!over) return state.over ? { kind: 'back_under' } : { kind: 'nothing' };
  if (!state.over) return { kind: 'warn' };
  if (usage.policy === 'stop' && state.desired === 'running')
    return { kind: 'stop', reason: dataDiskStopReason(usage) };
  return { kind: 'nothing' };
}
