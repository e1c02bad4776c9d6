import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { StartError } from '../start-error.js';
import { type Config, configSchema, defaultConfig } from './schema.js';

/** Raised for a configuration that cannot be used; the message names the key and where it came from. */
export class ConfigError extends StartError {
  override name = 'ConfigError';
}

/** Variables that are conventional elsewhere, accepted besides the TIANQI_* names. */
const ALIASES: Record<string, string> = {
  PORT: 'server.port',
  DATABASE_URL: 'database.url',
};

/** `jumpbox.host-key` → `TIANQI_JUMPBOX_HOST_KEY`. */
export function envNameFor(path: string): string {
  return `TIANQI_${path.replace(/[.-]/g, '_').toUpperCase()}`;
}

function leafPaths(obj: Record<string, unknown>, prefix = ''): [string, unknown][] {
  return Object.entries(obj).flatMap(([k, v]) =>
    v !== null && typeof v === 'object'
      ? leafPaths(v as Record<string, unknown>, `${prefix}${k}.`)
      : [[`${prefix}${k}`, v]],
  );
}

/** Every key, its environment variable and its default: for the README and `tianqi config`. */
export function configKeys(): { key: string; env: string; default: unknown }[] {
  return leafPaths(defaultConfig as unknown as Record<string, unknown>).map(([key, value]) => ({
    key,
    env: envNameFor(key),
    default: value,
  }));
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = obj;
  for (const part of parts.slice(0, -1)) {
    if (node[part] === null || typeof node[part] !== 'object') node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

// Environment values are text; turn them into the type the key's default has, so zod can check them.
function fromEnv(text: string, like: unknown): unknown {
  if (typeof like === 'number') return text.trim() === '' ? text : Number(text);
  if (typeof like === 'boolean') {
    const t = text.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(t)) return true;
    if (['false', '0', 'no', 'off'].includes(t)) return false;
    return text;
  }
  return text.replace(/\\r\\n|\\n/g, (m) => (m === '\\n' ? '\n' : '\r\n'));
}

export interface LoadedConfig {
  config: Config;
  /** The file read, if any. */
  file: string | null;
}

/**
 * Reads the YAML file (`--config`, else TIANQI_CONFIG, else ./tianqi.yaml when present), then applies
 * environment overrides, then validates everything. Errors name the key and its source.
 */
export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv } = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const explicit = options.file ?? env.TIANQI_CONFIG;
  const file = explicit ? resolve(explicit) : existsSync('tianqi.yaml') ? resolve('tianqi.yaml') : null;
  let raw: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  if (file) {
    if (!existsSync(file)) throw new ConfigError(`configuration file ${file} does not exist`);
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`configuration file ${file} is not valid YAML: ${(err as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new ConfigError(`configuration file ${file} must hold a mapping of keys`);
      }
      raw = parsed as Record<string, unknown>;
    }
  }
  for (const [path, like] of leafPaths(defaultConfig as unknown as Record<string, unknown>)) {
    const alias = Object.entries(ALIASES).find(([, p]) => p === path)?.[0];
    const name = envNameFor(path);
    const fromName = env[name] !== undefined ? name : alias && env[alias] !== undefined ? alias : undefined;
    if (fromName) {
      setPath(raw, path, fromEnv(env[fromName]!, like));
      sources.set(path, `environment variable ${fromName}`);
    }
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const keys =
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((k) => [...issue.path, k].join('.'))
          : [issue.path.join('.')];
      return keys
        .map((key) => {
          const from = sources.get(key) ?? (file ? `file ${file}` : 'defaults');
          return issue.code === 'unrecognized_keys'
            ? `${key} (${from}): unknown key`
            : `${key} (${from}): ${issue.message}`;
        })
        .join('\n');
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return { config: result.data, file };
}
