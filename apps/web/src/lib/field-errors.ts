import type { ApiErrorInfo } from '../api/errors.js';

/**
 * A refused form's errors by field, so each is shown beside its input: from the issues a domain
 * refusal carries, else from the message's "field: reason; field: reason" (the API's own wording).
 * Reasons with no field go under "".
 */
export function fieldErrors(info: ApiErrorInfo): Record<string, string> {
  if (info.code !== 'validation') return {};
  const out: Record<string, string> = {};
  const add = (path: string, message: string) => {
    const field = path.split('.').at(-1) ?? '';
    out[field] = out[field] ? `${out[field]}; ${message}` : message;
  };
  const issues = info.details?.issues;
  if (Array.isArray(issues)) {
    for (const i of issues as { path?: unknown; message?: unknown }[])
      add(typeof i.path === 'string' ? i.path : '', String(i.message ?? ''));
    return out;
  }
  for (const part of info.detail.split('; ')) {
    const m = /^([\w.]+): (.+)$/s.exec(part);
    if (m) add(m[1]!, m[2]!);
    else add('', part);
  }
  return out;
}
