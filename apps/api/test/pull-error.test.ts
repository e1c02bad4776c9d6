import { describe, expect, it } from 'vitest';
import { describePullFailure } from '../src/docker/pull-error.js';

/** Docker 20.10's own words for the ways a pull fails, and the sentence each one leads with. */
describe('pull failures in words', () => {
  const cases: [string, RegExp][] = [
    [
      'Get "https://registry.invalid/v2/": dial tcp: lookup registry.invalid on 127.0.0.53:53: no such host',
      /cannot be reached from the node/,
    ],
    ['Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused', /cannot be reached/],
    ['Get "https://r.example/v2/": net/http: TLS handshake timeout', /cannot be reached/],
    [
      'manifest for r.example/a:1 not found: manifest unknown: manifest unknown',
      /^image x not found: the registry has no such/,
    ],
    [
      "pull access denied for nope, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
      /not found, or its registry refuses access/,
    ],
    ['unauthorized: authentication required', /refused: the registry denies access/],
    ['something else entirely', /^image x could not be pulled \(Docker: something else entirely\)$/],
  ];
  it.each(cases)('%s', (raw, says) => {
    const text = describePullFailure('x', raw);
    expect(text).toMatch(says);
    expect(text).toContain(`(Docker: ${raw})`);
  });
});
