import { readFileSync } from 'node:fs';
import { type Call, number, type Options, string, UsageError } from './command.js';

/**
 * One field of a create/update input as a flag: `--cpu-cores 8` for `cpuCores`. The server checks the
 * values (its messages name the field); here they only get their type.
 */
export type Field =
  | { key: string; flag: string; kind: 'string' | 'nullable' | 'number' | 'int' | 'file' }
  | { key: string; flag: string; kind: 'bool'; off: string };

/** parseArgs options for these fields (a boolean has an on and an off flag). */
export function fieldOptions(fields: Field[]): Options {
  const options: Options = {};
  for (const f of fields) {
    if (f.kind === 'bool') {
      options[f.flag] = { type: 'boolean' };
      options[f.off] = { type: 'boolean' };
    } else options[f.flag] = { type: 'string' };
  }
  return options;
}

/** The flags given, as input fields; absent flags are left out (so an update changes only those). */
export function fieldValues(call: Call, fields: Field[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (f.kind === 'bool') {
      const on = call.flags[f.flag] === true;
      const off = call.flags[f.off] === true;
      if (on && off) throw new UsageError(`--${f.flag} and --${f.off} contradict each other`);
      if (on || off) out[f.key] = on;
      continue;
    }
    const text = string(call, f.flag);
    if (text === undefined) continue;
    switch (f.kind) {
      case 'string':
        out[f.key] = text;
        break;
      case 'nullable':
        out[f.key] = text === '' ? null : text; // `--gpu-model ''` clears it
        break;
      case 'number':
      case 'int':
        out[f.key] = number(call, f.flag, { int: f.kind === 'int' });
        break;
      case 'file':
        out[f.key] = text === '' ? null : readText(f.flag, text);
        break;
    }
  }
  return out;
}

function readText(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(
      `--${flag}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}

export const flagList = (fields: Field[]) =>
  fields
    .map((f) =>
      f.kind === 'bool' ? `[--${f.flag}|--${f.off}]` : `[--${f.flag} ${f.kind === 'file' ? 'FILE' : 'X'}]`,
    )
    .join(' ');
