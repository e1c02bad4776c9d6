import type { DataDiskPolicy, InstanceState } from '@tianqi/domain';
import type { Logger } from 'pino';
import { type Commands, systemContext } from '../commands/index.js';
import { dataVolume } from '../docker/labels.js';
import type { DiskUsage } from './disk-usage.js';

const GiB = 1024 ** 3;
const ctx = systemContext('sync');

/** An instance's disk figures from its node's disk-usage answer (null: not known). */
export interface DiskFigures {
  dataDiskUsedBytes: number | null;
  /** The container's writable layer: what it wrote outside /data. */
  systemDiskUsedBytes: number | null;
}

export interface PresentInstance {
  instance: InstanceState;
  containerId: string | null;
}

/**
 * Reads each instance's figures out of the node's answer and applies the data-disk rule: an instance
 * over its spec's size, or back under it after a warning, is recorded (the domain decides whether
 * that warns, stops or ends the warning). Specs with no data disk size are not held to one.
 */
export async function applyDiskUsage(
  deps: { commands: Commands; policy: DataDiskPolicy; logger: Logger },
  usage: DiskUsage,
  present: PresentInstance[],
): Promise<Map<string, DiskFigures>> {
  const figures = new Map<string, DiskFigures>();
  for (const { instance, containerId } of present) {
    const id = instance.instanceId;
    const limit = Math.round((instance.allocation?.dataDiskGb ?? 0) * GiB);
    const used = usage.volumes.get(dataVolume(id));
    figures.set(id, {
      dataDiskUsedBytes: used ?? null,
      systemDiskUsedBytes: containerId ? (usage.containers.get(containerId) ?? null) : null,
    });
    if (used === undefined || limit === 0 || instance.desired === 'deleted') continue;
    if (used <= limit && !instance.dataDiskOver) continue; // the usual case: nothing to record
    await deps.commands.instances
      .record(
        id,
        { type: 'RecordDataDiskUsage', usedBytes: used, limitBytes: limit, policy: deps.policy },
        ctx,
      )
      .catch((err: unknown) => deps.logger.warn({ err, instanceId: id }, 'recording data disk usage failed'));
  }
  return figures;
}
