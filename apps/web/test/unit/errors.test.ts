import { TRPCClientError } from '@trpc/client';
import { beforeEach, describe, expect, it } from 'vitest';
import { describeError, errorInfo } from '../../src/api/errors.js';
import { i18n } from '../../src/locales/index.js';

/** An error as the server sends it: the message and the platform's code in `data`. */
function refusal(tianqiCode: string, message: string, details?: Record<string, unknown>) {
  return TRPCClientError.from({ error: { message, code: -32600, data: { tianqiCode, details } } });
}

describe('errors in the user’s language', () => {
  beforeEach(() => {
    i18n.global.locale.value = 'zh-CN';
  });

  it('turns each code of the vocabulary into a sentence, in both languages', () => {
    expect(describeError(refusal('node_unavailable', 'node x does not answer'))).toBe(
      '节点暂时无法连接，请稍后重试',
    );
    i18n.global.locale.value = 'en';
    expect(describeError(refusal('node_unavailable', 'node x does not answer'))).toBe(
      'The node cannot be reached now; try again shortly',
    );
  });

  it('keeps what the server named for a refused field, and the wait of a rate limit', () => {
    expect(describeError(refusal('validation', 'name: an instance name is 1–63 letters'))).toBe(
      '输入有误：name: an instance name is 1–63 letters',
    );
    expect(describeError(refusal('rate_limited', 'too many', { retryAfterSeconds: 12 }))).toBe(
      '操作过于频繁，请在 12 秒后重试',
    );
  });

  it('shows the request id of an internal error, and never anything else of it', () => {
    expect(describeError(refusal('internal', 'internal error (request req-42)'))).toBe(
      '服务器内部错误（请求 req-42）',
    );
  });

  it('tells a server that does not answer from one that refuses', () => {
    const network = new TRPCClientError('fetch failed');
    expect(errorInfo(network).code).toBe('network');
    expect(describeError(network)).toBe('无法连接服务器');
  });
});
