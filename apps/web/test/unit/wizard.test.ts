import { mount } from '@vue/test-utils';
import { NStep, NSteps } from 'naive-ui';
import { describe, expect, it } from 'vitest';
import { h } from 'vue';
import type { ApiErrorInfo } from '../../src/api/errors.js';
import {
  canLeave,
  nameProblem,
  type Spec,
  STEPS,
  type Step,
  specsFor,
  stepOfRefusal,
  stepsCurrent,
} from '../../src/lib/create-wizard.js';

const spec = (name: string, slice: boolean) => ({ specId: name, name, slice }) as unknown as Spec;
const refused = (
  code: ApiErrorInfo['code'],
  detail: string,
  details?: Record<string, unknown>,
): ApiErrorInfo => ({
  code,
  detail,
  details,
  requestId: null,
});

describe('the create wizard', () => {
  it('given an image that cannot be sliced, when specs are offered, then slices are not', () => {
    const specs = [spec('gpu-1', false), spec('slice-6', true)];
    expect(specsFor({ supportsSlicing: false }, specs).map((s) => s.name)).toEqual(['gpu-1']);
    expect(specsFor({ supportsSlicing: true }, specs).map((s) => s.name)).toEqual(['gpu-1', 'slice-6']);
    expect(specsFor(null, specs)).toEqual([]);
  });

  it('checks a name with the seed’s rule, then against the names taken (ignoring case)', () => {
    expect(nameProblem('my-box_1', [])).toBeNull();
    expect(nameProblem('有 空格', [])).toBe('format');
    expect(nameProblem('a'.repeat(64), [])).toBe('format');
    expect(nameProblem('My-Box', ['my-box'])).toBe('taken');
  });

  it('shows the stepper at the confirm step in process, the four before it finished', () => {
    const statuses = (step: Step) =>
      mount(() =>
        h(NSteps, { current: stepsCurrent(step) }, () => STEPS.map((s) => h(NStep, { key: s, title: s }))),
      )
        .findAll('.n-step')
        .map((el) => /n-step--(\w+)-status/.exec(el.classes().join(' '))?.[1]);
    expect(statuses('confirm')).toEqual(['finish', 'finish', 'finish', 'finish', 'process']);
    expect(statuses('image')).toEqual(['process', 'wait', 'wait', 'wait', 'wait']);
  });

  it('lets the user on only with what the step needs', () => {
    const state = { imageId: null, specId: null, name: '', nameProblem: null };
    expect(canLeave('image', state)).toBe(false);
    expect(canLeave('image', { ...state, imageId: 'i' })).toBe(true);
    expect(canLeave('name', { ...state, name: 'x', nameProblem: 'taken' })).toBe(false);
    expect(canLeave('name', { ...state, name: 'x' })).toBe(true);
  });

  it('sends a refused create back to the step it is about', () => {
    expect(stepOfRefusal(refused('conflict', 'instance "x" is already taken', { name: 'x' }))).toEqual({
      step: 'name',
      field: 'name',
    });
    expect(stepOfRefusal(refused('no_capacity', 'every node that offers this spec is full'))).toEqual({
      step: 'node',
      field: 'node',
    });
    expect(stepOfRefusal(refused('validation', 'remark: a remark is at most 500 characters'))).toEqual({
      step: 'name',
      field: 'remark',
    });
    expect(stepOfRefusal(refused('node_unavailable', 'node x does not answer'))).toEqual({
      step: 'confirm',
      field: null,
    });
  });
});
