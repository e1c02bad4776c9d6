import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StartError } from '../start-error.js';

/** A file of the data folder that could not be written: the start stops with this, in plain words. */
export class DataDirWriteError extends StartError {
  override name = 'DataDirWriteError';
}

/**
 * Writes a new file (`wx`, mode 0600, its folder made if need be) and answers false when it already exists (another server made it
 * first). Any other failure removes what was half written — a cut key file would read as damaged at
 * every later start — and stops with a message naming the file, what it is, and what to do.
 */
export async function writeNewFile(path: string, content: string, what: string): Promise<boolean> {
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content, { mode: 0o600, flag: 'wx' });
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    await rm(path, { force: true }).catch(() => {});
    throw new DataDirWriteError(`${what} could not be written to ${path}: ${reason(code, err)}`, {
      cause: err,
    });
  }
}

function reason(code: string | undefined, err: unknown): string {
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return 'the disk of the data folder is full. Free some space there (or give data-dir a disk with room) and start again.';
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return `the server may not write there (${code}). Give it write access to the data folder, or choose another data-dir.`;
    default:
      return `${code ?? (err as Error).message}. Check the disk of the data folder.`;
  }
}
