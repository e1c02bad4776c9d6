import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configKeys, envNameFor, loadConfig } from '../src/config/load.js';

async function yamlFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tianqi-config-'));
  const file = join(dir, 'tianqi.yaml');
  await writeFile(file, text);
  return file;
}

describe('configuration', () => {
  it('has the documented defaults, including the seed jumpbox keys', () => {
    const { config, file } = loadConfig({ env: {} });
    expect(file).toBeNull();
    expect(config.server.port).toBe(8888);
    expect(config.database.url).toBe('');
    expect(config.jumpbox).toEqual({
      enabled: true,
      port: 2026,
      'host-key': '',
      banner: '欢迎使用SSH跳板机服务\r\n',
      host: '0.0.0.0',
      'idle-minutes': 60,
      'login-grace-seconds': 60,
      'handshake-seconds': 20,
      'max-unauthenticated': 100,
      'max-unauthenticated-per-address': 10,
      'max-connections': 0,
    });
    expect(config.sync['interval-seconds']).toBe(30);
  });

  it('reads a YAML file in the seed style', async () => {
    const file = await yamlFile(
      'jumpbox:\n  enabled: false\n  port: 2222\n  host-key: /etc/tianqi/host_ed25519\n  banner: "hello\\r\\n"\nserver:\n  port: 9000\n',
    );
    const { config } = loadConfig({ file, env: {} });
    expect(config.jumpbox).toEqual({
      enabled: false,
      port: 2222,
      'host-key': '/etc/tianqi/host_ed25519',
      banner: 'hello\r\n',
      host: '0.0.0.0',
      'idle-minutes': 60,
      'login-grace-seconds': 60,
      'handshake-seconds': 20,
      'max-unauthenticated': 100,
      'max-unauthenticated-per-address': 10,
      'max-connections': 0,
    });
    expect(config.server.port).toBe(9000);
  });

  it('lets every key be overridden by an environment variable, and PORT / DATABASE_URL too', async () => {
    const file = await yamlFile('server:\n  port: 9000\njumpbox:\n  enabled: true\n');
    const { config } = loadConfig({
      file,
      env: {
        PORT: '7000',
        DATABASE_URL: 'postgres://u:p@db:5432/tianqi',
        TIANQI_JUMPBOX_ENABLED: 'false',
        TIANQI_JUMPBOX_HOST_KEY: '/keys/k',
        TIANQI_SYNC_INTERVAL_SECONDS: '10',
      },
    });
    expect(config.server.port).toBe(7000);
    expect(config.database.url).toBe('postgres://u:p@db:5432/tianqi');
    expect(config.jumpbox.enabled).toBe(false);
    expect(config.jumpbox['host-key']).toBe('/keys/k');
    expect(config.sync['interval-seconds']).toBe(10);
    // The TIANQI_ name wins over the conventional alias.
    expect(loadConfig({ env: { PORT: '7000', TIANQI_SERVER_PORT: '7001' } }).config.server.port).toBe(7001);
    expect(configKeys().map((k) => k.env)).toContain('TIANQI_JUMPBOX_HOST_KEY');
    expect(envNameFor('database.embedded-port')).toBe('TIANQI_DATABASE_EMBEDDED_PORT');
  });

  it('names the bad key and where it came from', async () => {
    expect(() => loadConfig({ env: { TIANQI_JUMPBOX_PORT: '70000' } })).toThrow(
      /jumpbox\.port \(environment variable TIANQI_JUMPBOX_PORT\): Too big/,
    );
    expect(() => loadConfig({ env: { PORT: 'eighty' } })).toThrow(
      /server\.port \(environment variable PORT\)/,
    );
    expect(() => loadConfig({ env: { TIANQI_JUMPBOX_ENABLED: 'maybe' } })).toThrow(/jumpbox\.enabled/);
    const file = await yamlFile('jumpbox:\n  prot: 2026\nlog:\n  level: loud\n');
    const err = (() => {
      try {
        loadConfig({ file, env: {} });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toMatch(/jumpbox\.prot \(file .*tianqi\.yaml\): unknown key/);
    expect(err?.message).toMatch(/log\.level \(file .*tianqi\.yaml\)/);
  });

  it('refuses a missing or broken file with a clear message', async () => {
    expect(() => loadConfig({ file: '/nonexistent/tianqi.yaml', env: {} })).toThrow(/does not exist/);
    const file = await yamlFile('server: [port: 1\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(/is not valid YAML/);
  });
});
