import type { GpuAllocation, InstanceState } from '@tianqi/domain';
import type Docker from 'dockerode';
import {
  dataVolume,
  LABEL_INSTALLATION,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  LABEL_NODE,
  MANAGED_BY,
} from '../docker/labels.js';

export const HAMI_MOUNT = '/libvgpu/build';
export const HAMI_PRELOAD = `${HAMI_MOUNT}/libvgpu.so`;

const GiB = 1024 ** 3;

/** `12g`, or `1536m` when the slice is not a whole number of GB: what HAMi reads per device. */
export function hamiMemoryLimit(vramGb: number): string {
  return Number.isInteger(vramGb) ? `${vramGb}g` : `${Math.round(vramGb * 1024)}m`;
}

export interface RecipeOptions {
  /** When the container is made: its name ends with this Unix time. */
  now: Date;
  /** The node's HAMi-core directory, bound read-only for slices. */
  hamiCoreDir: string | null;
  /** Docker network mode for new containers; empty for Docker's default. */
  networkMode: string;
  /** This installation's id, so another installation on the same engine leaves the container alone. */
  installation: string;
  /** The node's Docker can limit the writable layer (`size` storage option): the spec's system disk. */
  limitSystemDisk?: boolean;
}

/**
 * The GPU variables every process in the container sees. Docker hands the device request's
 * `NVIDIA_VISIBLE_DEVICES` to the first process only, so a `docker exec` under a web terminal, an SSH
 * session or a one-off command would see no GPU: they go in the container's own environment. A
 * CPU-only instance gets `void`, so an image that asks for `all` (CUDA's base images do) cannot reach
 * a node's cards through a default NVIDIA runtime.
 */
export function gpuEnvironment(gpus: GpuAllocation): string[] {
  return [`NVIDIA_VISIBLE_DEVICES=${gpus.kind === 'none' ? 'void' : gpus.indices.join(',')}`];
}

/**
 * The container an instance runs in, as the design says: named `<name>-<id>-<unix time>`, labelled so
 * the platform finds it again after any crash, its GPUs by device id (never by count), CPU and memory
 * limits and shm from the spec, the system disk as Docker's `size` storage option where the node's
 * storage driver can limit it, `/data` on a named volume, kept running even when the image's command
 * is a shell (TTY and stdin), and for a HAMi slice the HAMi-core bind mount and variables.
 */
export function containerRecipe(
  instance: InstanceState,
  options: RecipeOptions,
): Docker.ContainerCreateOptions {
  const origin = instance.origin;
  const allocation = instance.allocation;
  if (!origin || !allocation) throw new Error(`instance ${instance.instanceId} has no origin or allocation`);
  const gpus = allocation.gpus;
  const env = gpuEnvironment(gpus);
  const binds: string[] = [];
  if (gpus.kind === 'slice') {
    if (!options.hamiCoreDir)
      throw new Error(`node ${origin.node.name} has no HAMi-core directory for a slice`);
    binds.push(`${options.hamiCoreDir}:${HAMI_MOUNT}:ro`);
    env.push(
      `LD_PRELOAD=${HAMI_PRELOAD}`,
      `CUDA_DEVICE_MEMORY_LIMIT=${hamiMemoryLimit(gpus.vramGb)}`,
      `CUDA_DEVICE_SM_LIMIT=${gpus.smPercent}`,
    );
  }
  const memory = Math.round(allocation.memoryGb * GiB);
  return {
    name: `${instance.name}-${instance.instanceId}-${Math.floor(options.now.getTime() / 1000)}`,
    Image: origin.image.address,
    Labels: {
      [LABEL_INSTANCE]: instance.instanceId,
      [LABEL_MANAGED_BY]: MANAGED_BY,
      [LABEL_INSTALLATION]: options.installation,
      [LABEL_NODE]: origin.node.nodeId,
      'tianqi.owner': instance.ownerId,
    },
    Hostname: instance.name.toLowerCase().replace(/_/g, '-').slice(0, 63),
    Tty: true,
    OpenStdin: true,
    Env: env,
    HostConfig: {
      NanoCpus: Math.round(allocation.cpuCores * 1e9),
      Memory: memory,
      // Half the memory, at most 16 GB: PyTorch data loaders live in /dev/shm.
      ShmSize: Math.min(Math.round(memory / 2), 16 * GiB),
      Mounts: [{ Type: 'volume', Source: dataVolume(instance.instanceId), Target: '/data' }],
      Binds: binds,
      DeviceRequests:
        gpus.kind === 'none'
          ? []
          : [{ Driver: 'nvidia', DeviceIDs: gpus.indices.map(String), Capabilities: [['gpu']] }],
      RestartPolicy: { Name: 'no' },
      ...(options.limitSystemDisk ? { StorageOpt: { size: `${allocation.systemDiskGb}G` } } : {}),
      ...(options.networkMode ? { NetworkMode: options.networkMode } : {}),
    },
  };
}
