import type { RouterOutputs } from '@tianqi/api/client';
import { instanceNameSchema } from '@tianqi/domain';
import type { ApiErrorInfo } from '../api/errors.js';

export type Image = RouterOutputs['images']['list'][number];
export type Spec = RouterOutputs['specs']['list'][number];

export const STEPS = ['image', 'spec', 'node', 'name', 'confirm'] as const;
export type Step = (typeof STEPS)[number];

/** NSteps' `current` for a step: 1-based, so every step before it shows finished and it in process. */
export const stepsCurrent = (step: Step): number => STEPS.indexOf(step) + 1;

/** The specs an image can run: slices only for images that allow slicing. */
export function specsFor(image: Pick<Image, 'supportsSlicing'> | null, specs: readonly Spec[]): Spec[] {
  if (!image) return [];
  return specs.filter((s) => image.supportsSlicing || !s.slice);
}

/** Why a name cannot be used (the seed's rule, then the names already taken), or null. */
export function nameProblem(name: string, taken: readonly string[]): 'format' | 'taken' | null {
  if (!instanceNameSchema.safeParse(name).success) return 'format';
  // Names compare ignoring case, as the platform's name claims do.
  if (taken.some((n) => n.toLowerCase() === name.trim().toLowerCase())) return 'taken';
  return null;
}

/**
 * Where a refused create belongs in the wizard, so the answer is shown beside what caused it and the
 * user is taken back there, with everything they typed kept.
 */
export function stepOfRefusal(info: ApiErrorInfo): { step: Step; field: 'name' | 'remark' | 'node' | null } {
  if (info.code === 'conflict' && info.details?.name !== undefined) return { step: 'name', field: 'name' };
  if (info.code === 'no_capacity') return { step: 'node', field: 'node' };
  if (info.code === 'validation') {
    if (/^name:/m.test(info.detail) || info.detail.includes('instance name'))
      return { step: 'name', field: 'name' };
    if (/remark/.test(info.detail)) return { step: 'name', field: 'remark' };
  }
  return { step: 'confirm', field: null };
}

/** Whether the user may go on from a step. */
export function canLeave(
  step: Step,
  state: { imageId: string | null; specId: string | null; name: string; nameProblem: string | null },
): boolean {
  if (step === 'image') return state.imageId !== null;
  if (step === 'spec') return state.specId !== null;
  if (step === 'name') return state.name !== '' && state.nameProblem === null;
  return true;
}
