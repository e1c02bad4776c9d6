import { statfs } from 'node:fs/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Commands } from '../commands/index.js';
import { systemContext } from '../commands/index.js';
import type { Config } from '../config/schema.js';
import { dockerFor } from '../docker/clients.js';
import { checkConnection } from '../docker/connection-check.js';

const GiB = 1024 ** 3;

/**
 * On the first start of a new installation (no node was ever registered), the local Docker engine,
 * when its socket answers, becomes the first node — CPU-only unless configured — so a new user can
 * create an instance at once. Its size is what the engine reports.
 */
export async function registerLocalNode(
  pool: pg.Pool,
  commands: Commands,
  config: Config['docker'],
  log: Logger,
): Promise<string | null> {
  if (config['local-socket'] === '') return null;
  const { rows } = await pool.query(`SELECT 1 FROM events WHERE type = 'NodeRegistered' LIMIT 1`);
  if (rows.length > 0) return null;
  const address = `unix://${config['local-socket']}`;
  const docker = dockerFor({
    nodeId: 'local',
    dockerAddress: address,
    useTls: false,
    caCert: null,
    clientCert: null,
    clientKey: null,
  });
  const check = await checkConnection(docker, 3_000);
  if (!check.ok) {
    log.info(
      { socket: config['local-socket'], reason: check.reason },
      'no local Docker engine to register as the first node',
    );
    return null;
  }
  const info = await docker.info();
  const disk = await statfs(info.DockerRootDir ?? '/').catch(() => statfs('/'));
  const gpus = config['local-gpu-count'];
  const { id } = await commands.nodes.register(
    {
      name: 'local',
      region: 'local',
      cpuCores: info.NCPU,
      memoryGb: Math.max(1, Math.floor(info.MemTotal / GiB)),
      systemDiskGb: Math.max(1, Math.floor((disk.blocks * disk.bsize) / GiB)),
      gpuCount: gpus,
      gpuModel: gpus > 0 ? config['local-gpu-model'] || null : null,
      vramGbPerGpu: gpus > 0 ? config['local-vram-gb'] : 0,
      dockerAddress: address,
      useTls: false,
      remark: `Docker ${check.version} on this machine, registered at first start`,
    },
    systemContext('bootstrap'),
  );
  await commands.nodes.recordDockerStatus(id, 'connected', '', systemContext('bootstrap'));
  log.info(
    { nodeId: id, socket: config['local-socket'] },
    'registered the local Docker engine as the first node',
  );
  return id;
}
