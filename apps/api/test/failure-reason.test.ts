import { describe, expect, it } from 'vitest';
import { failureReason } from '../src/reconciler/failure-reason.js';
import { RetryLater } from '../src/reconciler/retry-later.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe("the reason an instance's owner reads when the platform keeps failing", () => {
  it("names the node and the kind of trouble reaching it, not the node's address", () => {
    expect(failureReason(withCode('connect ECONNREFUSED 10.0.0.5:2376', 'ECONNREFUSED'), 'gpu-a')).toBe(
      'node gpu-a: connection refused',
    );
    expect(failureReason(withCode('getaddrinfo ENOTFOUND docker.gpu-a.internal', 'ENOTFOUND'), 'gpu-a')).toBe(
      'node gpu-a: host not found',
    );
    expect(
      failureReason(
        withCode('unable to verify the first certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
        'gpu-a',
      ),
    ).toBe('node gpu-a: bad certificate');
  });

  it("gives Docker's own answer about the container", () => {
    const refused = Object.assign(new Error('(HTTP code 500) server error - no space left on device'), {
      statusCode: 500,
      json: { message: 'no space left on device' },
    });
    expect(failureReason(refused, 'gpu-a')).toBe('node gpu-a: Docker answered 500: no space left on device');
  });

  it('keeps the platform’s own errors to the server log', () => {
    expect(failureReason(new Error('relation "rm.instances" does not exist'), 'gpu-a')).toBe(
      'node gpu-a: an error on the platform; it tries again',
    );
  });

  it('passes on what a wait already says in plain words', () => {
    expect(
      failureReason(
        new RetryLater('node gpu-a is down (its Docker cannot be reached); waiting for it'),
        'gpu-a',
      ),
    ).toBe('node gpu-a is down (its Docker cannot be reached); waiting for it');
  });
});
