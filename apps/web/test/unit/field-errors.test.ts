import { describe, expect, it } from 'vitest';
import { fieldErrors } from '../../src/lib/field-errors.js';

const validation = (detail: string, details?: Record<string, unknown>) =>
  ({ code: 'validation', detail, details, requestId: null }) as const;

describe('a refused form', () => {
  it('puts each reason beside its field, from the message the API wrote', () => {
    expect(
      fieldErrors(validation('dockerAddress: not a Docker address; cpuCores: CPU cores must be at least 1')),
    ).toEqual({ dockerAddress: 'not a Docker address', cpuCores: 'CPU cores must be at least 1' });
  });

  it('prefers the issues a domain refusal carries, and keeps the last part of a nested path', () => {
    const info = validation('command: …', {
      issues: [
        { path: 'changes.caCert', message: 'the CA certificate must be PEM text' },
        { path: '', message: 'a GPU spec needs a model' },
      ],
    });
    expect(fieldErrors(info)).toEqual({
      caCert: 'the CA certificate must be PEM text',
      '': 'a GPU spec needs a model',
    });
  });

  it('has nothing to place for other refusals', () => {
    expect(
      fieldErrors({ code: 'conflict', detail: 'name: taken', details: undefined, requestId: null }),
    ).toEqual({});
  });
});
