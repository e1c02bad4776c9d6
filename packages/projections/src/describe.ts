import { describeSystemDiskLimit, type GpuAllocation, gb } from '@tianqi/domain';
import type { PlatformEvent } from './platform-events.js';

function gpus(g: GpuAllocation): string {
  switch (g.kind) {
    case 'none':
      return 'no GPU';
    case 'whole':
      return `GPU ${g.indices.join(',')}`;
    case 'slice':
      return `${g.vramGb} GB / ${g.smPercent}% SM of GPU ${g.indices.join(',')}`;
  }
}

const fields = (changes: Record<string, unknown>) =>
  Object.keys(changes)
    .filter((k) => changes[k] !== undefined)
    .join(', ');

/** One line a person reads in an instance's history or the audit log. Never shows a secret. */
export function describeEvent(e: PlatformEvent): string {
  switch (e.type) {
    case 'UserRegistered':
      return `registered user ${e.data.username} (${e.data.role})`;
    case 'PasswordChanged':
      return 'changed the password';
    case 'RoleChanged':
      return `changed the role to ${e.data.role}`;
    case 'UserDisabled':
      return 'disabled the user';
    case 'UserEnabled':
      return 'enabled the user';
    case 'SshKeyAdded':
      return `added SSH key ${e.data.fingerprint}${e.data.comment ? ` (${e.data.comment})` : ''}`;
    case 'SshKeyRemoved':
      return `removed SSH key ${e.data.fingerprint}`;
    case 'LoginSucceeded':
      return `signed in (${e.data.via}, ${e.data.method})`;
    case 'LoginFailed':
      return `failed sign-in (${e.data.via}, ${e.data.method}): ${e.data.reason}`;
    case 'SignedOut':
      return `signed out (${e.data.via})`;
    case 'UnknownUserLoginFailed':
      return `failed sign-in as unknown user "${e.data.username}" (${e.data.via}, ${e.data.method})`;
    case 'ImageRegistered':
      return `registered image ${e.data.name} (${e.data.address})`;
    case 'ImageUpdated':
      return `changed image ${fields(e.data.changes)}`;
    case 'ImageDeleted':
      return 'deleted the image';
    case 'SpecCreated':
      return `created spec ${e.data.name} (${e.data.gpuCount > 0 ? `${e.data.gpuModel} ×${e.data.gpuCount}` : 'CPU only'}, ${e.data.pricePerHour}/h)`;
    case 'SpecUpdated':
      return `changed spec ${fields(e.data.changes)}`;
    case 'SpecDeleted':
      return 'deleted the spec';
    case 'NodeRegistered':
      return `registered node ${e.data.name} (${e.data.dockerAddress}, ${e.data.gpuCount > 0 ? `${e.data.gpuModel} ×${e.data.gpuCount}` : 'no GPU'})`;
    case 'NodeUpdated':
      return `changed node ${fields(e.data.changes)}`;
    case 'NodeDeleted':
      return 'deleted the node';
    case 'NodeDockerStatusChanged':
      return `Docker ${e.data.status}${e.data.reason ? `: ${e.data.reason}` : ''}`;
    case 'ResourcesAllocated':
      return `allocated ${gpus(e.data.allocation.gpus)}, ${e.data.allocation.cpuCores} cores, ${e.data.allocation.memoryGb} GB to instance ${e.data.allocation.instanceId}`;
    case 'ResourcesReleased':
      return `released the resources of instance ${e.data.instanceId}`;
    case 'InstanceCreated':
      return `created instance ${e.data.name} from ${e.data.image.address}, spec ${e.data.spec.name}, on node ${e.data.node.name} with ${gpus(e.data.allocation.gpus)}`;
    case 'InstanceStartRequested':
      return 'asked to start';
    case 'InstanceStopRequested':
      return e.data.reason ? `stopped by the platform: ${e.data.reason}` : 'asked to stop';
    case 'InstanceRestartRequested':
      return `asked to restart (restart ${e.data.restart})`;
    case 'InstanceDeleteRequested':
      return 'asked to delete';
    case 'ContainerCreated':
      return `container ${e.data.containerName} created (${e.data.containerId.slice(0, 12)})`;
    case 'ContainerStarted':
      return 'container running';
    case 'ContainerRestarted':
      return `container restarted (restart ${e.data.restart})`;
    case 'ContainerExited':
      return `container exited${e.data.exitCode === null ? '' : ` with code ${e.data.exitCode}`}${e.data.oomKilled ? ' (out of memory)' : ''}`;
    case 'InstanceFailed':
      return `${e.data.phase} failed: ${e.data.reason}`;
    case 'ContainerRemoved':
      return 'container removed';
    case 'ReconcileFailed':
      return `the platform cannot carry this out yet and keeps trying: ${e.data.reason}`;
    case 'ReconcileRecovered':
      return 'the platform got through again';
    case 'ContainerDiscarded':
      return `container ${e.data.containerId.slice(0, 12)} removed unstarted, to be made again: ${e.data.reason}`;
    case 'VolumesRemoved':
      return e.data.volumes.length > 0
        ? `volumes removed: ${e.data.volumes.join(', ')}`
        : 'no volumes to remove';
    case 'InstanceObservedUnknown':
      return `state unknown: ${e.data.reason}`;
    case 'AllocationReleased':
      return 'resources released';
    case 'DriftDetected':
      return `drift: ${e.data.kind.replace('_', ' ')} (${e.data.detail})`;
    case 'DriftResolved':
      return `drift resolved: ${e.data.kind.replace('_', ' ')}`;
    case 'DataDiskOverLimit':
      return `data disk over its size: ${gb(e.data.usedBytes)} of ${gb(e.data.limitBytes)} in /data; ${
        e.data.policy === 'stop'
          ? 'it will be stopped at the next sync if still over'
          : 'warning only (the platform does not stop it)'
      }`;
    case 'DataDiskBackUnderLimit':
      return `data disk back under its size: ${gb(e.data.usedBytes)} of ${gb(e.data.limitBytes)}`;
    case 'TerminalSessionEnded': {
      const where = `from ${e.data.ip ?? 'unknown address'}, ${Math.round(e.data.seconds)} s`;
      if (e.data.command !== null) {
        const ended = e.data.exitCode === null ? '' : `, exit ${e.data.exitCode}`;
        return `SSH command \`${e.data.command.slice(0, 200)}\` ${where}${ended}`;
      }
      return `${{ ssh: 'SSH', cli: 'CLI shell', web: 'web terminal' }[e.data.via]} session ${where}`;
    }
    case 'OrphanContainerFound':
      return `orphan container ${e.data.name} (${e.data.containerId.slice(0, 12)}) for instance ${e.data.instanceId || 'unknown'}`;
    case 'OrphanContainerGone':
      return `orphan container ${e.data.containerId.slice(0, 12)} gone`;
    case 'SystemDiskLimitChecked':
      return `system disk limit ${describeSystemDiskLimit(e.data.status, e.data.reason)} (${e.data.storageDriver || 'storage driver unknown'}, seen at ${e.data.source === 'probe' ? 'a check' : 'a container create'})`;
    case 'NameClaimed':
      return `name "${e.data.name}" taken (${e.data.scope})`;
    case 'NameReleased':
      return 'name released';
  }
}
