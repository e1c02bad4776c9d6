import { z } from 'zod';
import type { Allocation, SpecDemand } from './types.js';

const index = z.number().int().min(0).max(63);

export const gpuAllocationSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }),
  z.object({ kind: z.literal('whole'), indices: z.array(index).min(1) }),
  z.object({
    kind: z.literal('slice'),
    indices: z.array(index).min(1),
    vramGb: z.number().positive(),
    smPercent: z.number().int().min(1).max(100),
  }),
]);

export const allocationSchema = z.object({
  instanceId: z.string(),
  cpuCores: z.number(),
  memoryGb: z.number(),
  systemDiskGb: z.number(),
  dataDiskGb: z.number(),
  gpus: gpuAllocationSchema,
}) satisfies z.ZodType<Allocation>;

export const specDemandSchema = z.object({
  gpuModel: z.string().nullable(),
  gpuCount: z.number().int().min(0),
  vramGb: z.number().min(0),
  slice: z.boolean(),
  cpuCores: z.number().positive(),
  memoryGb: z.number().positive(),
  systemDiskGb: z.number().min(0),
  dataDiskGb: z.number().min(0),
}) satisfies z.ZodType<SpecDemand>;
