import { z } from 'zod';
import type { SpecDemand } from '../scheduling/types.js';
import { changedFields, changesSchema } from '../shared/changes.js';
import { TianqiError } from '../shared/errors.js';
import type { EventsOf } from '../shared/events.js';
import { amount, displayNameSchema, idSchema, remarkSchema, wholeAmount } from '../shared/fields.js';
import { parseOrThrow } from '../shared/parse.js';

export const specShape = {
  name: displayNameSchema,
  /** Required when gpuCount > 0; matched against nodes ignoring case and spacing. */
  gpuModel: z.string().trim().max(64).nullable().default(null),
  /** 0 = a CPU-only spec, which never touches GPUs. */
  gpuCount: wholeAmount('GPU count', 0, 16),
  /** VRAM per GPU in GB; for a slice, the slice's share of each card. */
  vramGb: amount('VRAM per GPU', 0, 1024).default(0),
  /** A HAMi slice of each card (memory and compute limited) rather than whole cards. */
  slice: z.boolean().default(false),
  cpuCores: amount('CPU cores', 0.5, 512),
  memoryGb: amount('memory', 0.5, 8192),
  systemDiskGb: wholeAmount('system disk', 1, 65_536),
  dataDiskGb: wholeAmount('data disk', 0, 1_048_576).default(0),
  /** Price per hour in yuan, to the fen. */
  pricePerHour: amount('price per hour', 0, 1_000_000).multipleOf(0.01, 'a price has at most 2 decimals'),
  listed: z.boolean().default(true),
  remark: remarkSchema,
};
const specFieldsSchema = z.object(specShape);
export type SpecFields = z.output<typeof specFieldsSchema>;

/** The rules that tie fields together, checked on the whole spec after every create or update. */
function specProblems(s: SpecFields): string[] {
  const problems: string[] = [];
  if (s.gpuCount > 0 && !s.gpuModel)
    problems.push('gpuModel: a GPU model is required when the GPU count is above 0');
  if (s.gpuCount > 0 && s.vramGb <= 0) problems.push('vramGb: a GPU spec needs its VRAM per GPU');
  if (s.gpuCount === 0 && s.slice) problems.push('slice: a CPU-only spec cannot be a GPU slice');
  if (s.gpuCount === 0 && s.vramGb > 0) problems.push('vramGb: a CPU-only spec has no VRAM');
  return problems;
}

export const specCommandSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('CreateSpec'), specId: idSchema, ...specShape }),
  z.object({
    type: z.literal('UpdateSpec'),
    changes: changesSchema(specShape),
  }),
  z.object({ type: z.literal('DeleteSpec') }),
]);
export type SpecCommand = z.input<typeof specCommandSchema>;

export const specEventSchemas = {
  SpecCreated: specFieldsSchema.extend({ specId: z.string() }),
  SpecUpdated: z.object({ changes: changesSchema(specShape) }),
  SpecDeleted: z.object({}),
};
export type SpecEvent = EventsOf<typeof specEventSchemas>;

export interface SpecState extends SpecFields {
  exists: boolean;
  deleted: boolean;
  specId: string;
}

export const initialSpecState: SpecState = {
  exists: false,
  deleted: false,
  specId: '',
  ...specFieldsSchema.parse({
    name: '-',
    gpuCount: 0,
    cpuCores: 1,
    memoryGb: 1,
    systemDiskGb: 1,
    pricePerHour: 0,
  }),
};

export function decideSpec(input: SpecCommand, state: SpecState): SpecEvent[] {
  const command = parseOrThrow(specCommandSchema, input);
  if (command.type === 'CreateSpec') {
    if (state.exists) throw new TianqiError('conflict', `spec ${command.specId} already exists`);
    const { type: _type, ...data } = command;
    const fields = { ...data, gpuModel: data.gpuCount === 0 ? null : data.gpuModel };
    assertConsistent(fields);
    return [{ type: 'SpecCreated', data: fields }];
  }
  if (!state.exists || state.deleted) throw new TianqiError('not_found', 'no such spec');
  if (command.type === 'DeleteSpec') return [{ type: 'SpecDeleted', data: {} }];
  const changes = changedFields<SpecFields>(state, command.changes);
  if (Object.keys(changes).length === 0) return [];
  assertConsistent({ ...state, ...changes });
  return [{ type: 'SpecUpdated', data: { changes } }];
}

function assertConsistent(fields: SpecFields): void {
  const problems = specProblems(fields);
  if (problems.length > 0) throw new TianqiError('validation', problems.join('; '));
}

export function evolveSpec(state: SpecState, event: SpecEvent): SpecState {
  switch (event.type) {
    case 'SpecCreated':
      return { ...state, exists: true, ...event.data };
    case 'SpecUpdated':
      return { ...state, ...event.data.changes };
    case 'SpecDeleted':
      return { ...state, deleted: true, listed: false };
  }
}

/** What the scheduler needs of a spec. */
export function specDemand(spec: SpecFields): SpecDemand {
  return {
    gpuModel: spec.gpuModel,
    gpuCount: spec.gpuCount,
    vramGb: spec.vramGb,
    slice: spec.slice,
    cpuCores: spec.cpuCores,
    memoryGb: spec.memoryGb,
    systemDiskGb: spec.systemDiskGb,
    dataDiskGb: spec.dataDiskGb,
  };
}
