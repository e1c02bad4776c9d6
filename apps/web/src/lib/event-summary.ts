import type { EventsOf, instanceEventSchemas, nodeEventSchemas } from '@tianqi/domain';
import { formatBytes, gpuHolding } from './instance-display.js';

type NodeEvents = typeof nodeEventSchemas;
/** What an instance's history holds: its own events, and its allocation and release on the node. */
export type HistoryEvent =
  | EventsOf<typeof instanceEventSchemas>
  | EventsOf<Pick<NodeEvents, 'ResourcesAllocated' | 'ResourcesReleased'>>;
export type HistoryEventType = HistoryEvent['type'];

/** A history entry as the API sends it: the type, its data, and the server's English summary. */
export interface HistoryEntryLike {
  type: string;
  data: Record<string, unknown>;
  summary: string;
}

type T = (key: string, named?: Record<string, unknown>) => string;
type Describe<K extends HistoryEventType> = (
  data: Extract<HistoryEvent, { type: K }>['data'],
  t: T,
) => string;

const shortId = (id: string) => id.slice(0, 12);

function gpus(allocation: Record<string, unknown>, t: T): string {
  const g = gpuHolding(allocation);
  if (g.kind === 'whole') return t('instances.gpuWhole', { indices: g.indices.join(',') });
  if (g.kind === 'slice') return t('instances.gpuSlice', { index: g.index, vram: g.vramGb, sm: g.smPercent });
  return t('instances.gpuNone');
}

const usage = (d: { usedBytes: number; limitBytes: number }) => ({
  used: formatBytes(d.usedBytes),
  limit: formatBytes(d.limitBytes),
});

// One entry per type: a new instance event fails the type check here until it has its words.
const describers: { [K in HistoryEventType]: Describe<K> } = {
  InstanceCreated: (d, t) =>
    t('events.InstanceCreated', {
      name: d.name,
      image: d.image.name,
      spec: d.spec.name,
      node: d.node.name,
      gpus: gpus(d.allocation, t),
    }),
  InstanceStartRequested: (_d, t) => t('events.InstanceStartRequested'),
  InstanceStopRequested: (d, t) =>
    d.reason ? t('events.stoppedByPlatform', { reason: d.reason }) : t('events.InstanceStopRequested'),
  InstanceRestartRequested: (d, t) => t('events.InstanceRestartRequested', { restart: d.restart }),
  InstanceDeleteRequested: (_d, t) => t('events.InstanceDeleteRequested'),
  ContainerCreated: (d, t) =>
    t('events.ContainerCreated', { name: d.containerName, id: shortId(d.containerId) }),
  ContainerStarted: (_d, t) => t('events.ContainerStarted'),
  ContainerRestarted: (d, t) => t('events.ContainerRestarted', { restart: d.restart }),
  ContainerExited: (d, t) =>
    (d.exitCode === null ? t('events.ContainerExited') : t('events.exitedWithCode', { code: d.exitCode })) +
    (d.oomKilled ? t('events.outOfMemory') : ''),
  InstanceFailed: (d, t) =>
    t('events.InstanceFailed', { phase: t(`events.phases.${d.phase}`), reason: d.reason }),
  ContainerRemoved: (_d, t) => t('events.ContainerRemoved'),
  ReconcileFailed: (d, t) => t('events.ReconcileFailed', { reason: d.reason }),
  ReconcileRecovered: (_d, t) => t('events.ReconcileRecovered'),
  ContainerDiscarded: (d, t) =>
    t('events.ContainerDiscarded', { id: shortId(d.containerId), reason: d.reason }),
  VolumesRemoved: (d, t) =>
    d.volumes.length > 0
      ? t('events.VolumesRemoved', { volumes: d.volumes.join(', ') })
      : t('events.noVolumes'),
  InstanceObservedUnknown: (d, t) => t('events.InstanceObservedUnknown', { reason: d.reason }),
  AllocationReleased: (_d, t) => t('events.AllocationReleased'),
  DriftDetected: (d, t) => t('events.DriftDetected', { kind: t(`events.drift.${d.kind}`), detail: d.detail }),
  DriftResolved: (d, t) => t('events.DriftResolved', { kind: t(`events.drift.${d.kind}`) }),
  DataDiskOverLimit: (d, t) =>
    t('events.DataDiskOverLimit', { ...usage(d), policy: t(`events.diskPolicy.${d.policy}`) }),
  DataDiskBackUnderLimit: (d, t) => t('events.DataDiskBackUnderLimit', usage(d)),
  TerminalSessionEnded: (d, t) => {
    const where = { ip: d.ip ?? t('events.unknownAddress'), seconds: Math.round(d.seconds) };
    if (d.command === null)
      return t('events.TerminalSessionEnded', { ...where, via: t(`events.via.${d.via}`) });
    const command = t('events.sshCommand', { ...where, command: d.command.slice(0, 200) });
    return d.exitCode === null ? command : command + t('events.exitSuffix', { code: d.exitCode });
  },
  ResourcesAllocated: (d, t) =>
    t('events.ResourcesAllocated', {
      gpus: gpus(d.allocation, t),
      cpu: d.allocation.cpuCores,
      memory: d.allocation.memoryGb,
    }),
  ResourcesReleased: (_d, t) => t('events.ResourcesReleased'),
};

/** An instance's failure as the overview and the state tag show it: the phase in words, the reason as given. */
export function describeFailure(
  f: { phase: string; reason: string },
  t: T,
  te: (key: string) => boolean,
): string {
  const phase = te(`events.phases.${f.phase}`) ? t(`events.phases.${f.phase}`) : f.phase;
  return t('events.InstanceFailed', { phase, reason: f.reason });
}

const known = (type: string): type is HistoryEventType => Object.hasOwn(describers, type);

/**
 * One history line in the reader's language, from the event's type and data. A type this build does
 * not know yet (a newer server), or data it cannot read, shows the server's English summary.
 */
export function describeHistoryEvent(entry: HistoryEntryLike, t: T): string {
  if (!known(entry.type)) return entry.summary;
  const describe = describers[entry.type] as (data: unknown, t: T) => string;
  try {
    return describe(entry.data, t);
  } catch {
    return entry.summary;
  }
}
