import type { RouterOutputs } from '@tianqi/api/client';
import type { ComposerTranslation } from 'vue-i18n';

type Spec = RouterOutputs['specs']['list'][number];

/** A spec's GPUs in a few words: "1 × RTX 4090 · 24 GB/card", or CPU only. */
export function specGpus(t: ComposerTranslation, s: Spec): string {
  if (s.gpuCount === 0) return t('admin.specs.cpuOnly');
  const gpus = t('admin.specs.gpusValue', { count: s.gpuCount, model: s.gpuModel ?? '' });
  return `${gpus} · ${t('admin.specs.vramValue', { vram: s.vramGb })}`;
}

export const specResources = (t: ComposerTranslation, s: Spec) =>
  t('admin.specs.resourcesValue', { cpu: s.cpuCores, memory: s.memoryGb });

export const specDisks = (t: ComposerTranslation, s: Spec) =>
  t('admin.specs.disksValue', { system: s.systemDiskGb, data: s.dataDiskGb });
