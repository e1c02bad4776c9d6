import type { InstanceView } from '@tianqi/api/client';

/** The GPUs an instance holds, as the scheduler gave them (the read model's allocation). */
export type GpuHolding =
  | { kind: 'none' }
  | { kind: 'whole'; indices: number[] }
  | { kind: 'slice'; index: number; vramGb: number; smPercent: number };

export function gpuHolding(allocation: Record<string, unknown>): GpuHolding {
  const gpus = allocation.gpus as
    | { kind?: string; indices?: number[]; vramGb?: number; smPercent?: number }
    | undefined;
  if (gpus?.kind === 'whole' && Array.isArray(gpus.indices)) return { kind: 'whole', indices: gpus.indices };
  if (gpus?.kind === 'slice' && Array.isArray(gpus.indices)) {
    return {
      kind: 'slice',
      index: gpus.indices[0] ?? 0,
      vramGb: Number(gpus.vramGb),
      smPercent: Number(gpus.smPercent),
    };
  }
  return { kind: 'none' };
}

/** The spec's price per hour, as the instance was created with it. */
export function pricePerHour(instance: Pick<InstanceView, 'spec'>): number {
  return Number(instance.spec.pricePerHour ?? 0);
}

/** Whether the platform is still working towards what the user asked (desired ≠ observed). */
export function settling(instance: Pick<InstanceView, 'desired' | 'observed'>): boolean {
  const { desired, observed } = instance;
  if (desired === 'running') return observed !== 'running';
  if (desired === 'stopped') return observed !== 'stopped' && observed !== 'exited';
  return observed !== 'removed';
}

/** Which actions make sense now: nothing is offered that the platform would only refuse. */
export function actionsFor(instance: Pick<InstanceView, 'desired' | 'observed'>) {
  const gone = instance.desired === 'deleted';
  return {
    start: !gone && instance.desired !== 'running',
    stop: !gone && instance.desired === 'running',
    restart: !gone && instance.desired === 'running',
    delete: !gone,
    terminal: !gone && instance.observed === 'running',
  };
}

/** Dates come over JSON as strings (the API has no transformer), though typed as Date. */
export const asDate = (value: Date | string): Date => (value instanceof Date ? value : new Date(value));

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}
