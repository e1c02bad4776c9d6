import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';

/**
 * The jumpbox's host key: the configured file, or an ed25519 key generated on the first start and kept
 * in the data folder (0600), so clients never see it change across restarts.
 */
export async function loadHostKey(configured: string, dataDir: string): Promise<Buffer> {
  if (configured) return readFile(configured);
  const path = join(dataDir, 'ssh_host_ed25519_key');
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { private: key } = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'tianqi-jumpbox' });
  await mkdir(dataDir, { recursive: true });
  // `wx`: two servers starting at once on one folder keep the first key, not two.
  try {
    await writeFile(path, key, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  await chmod(path, 0o600);
  return readFile(path);
}
