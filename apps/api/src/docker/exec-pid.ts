import type Docker from 'dockerode';
import { execCapture } from './exec.js';

/**
 * Docker does not end an exec when its client goes away: a terminal closed or an `ssh host 'cmd'`
 * killed would leave its process running in the container, unseen. So sessions start their process
 * through `/bin/sh`, which first announces its PID (`ANNOUNCE_PID`, on stderr, before the command
 * itself runs); `PidAnnouncement` takes that line off the output, and `hangUp` ends the process.
 */
const MARK = 'tianqi-pid:';

/** Shell code that announces the shell's PID, first, on stderr (the TTY, when there is one). */
export const ANNOUNCE_PID = `echo "${MARK}$$" >&2`;

const NOTHING = Buffer.alloc(0);

/** Takes the PID announcement off the front of a stream of output bytes, keeping the PID. */
export class PidAnnouncement {
  pid: string | null = null;
  #head: Buffer | null = NOTHING;

  /** The bytes to pass on (none while the announcement line is still incomplete). */
  take(chunk: Buffer): Buffer {
    if (this.#head === null) return chunk;
    const head = Buffer.concat([this.#head, chunk]);
    const nl = head.indexOf('\n');
    if (nl < 0 && head.length < 256) {
      this.#head = head;
      return NOTHING;
    }
    this.#head = null;
    const m = new RegExp(`${MARK}(\\d+)`).exec(head.subarray(0, nl < 0 ? head.length : nl + 1).toString());
    this.pid = m?.[1] ?? null;
    return m ? head.subarray(nl + 1) : head;
  }
}

/** Hangs the announced process up (SIGHUP, as a closing terminal would; else SIGKILL) if it still runs. */
export async function hangUp(
  docker: Docker,
  containerId: string,
  exec: Docker.Exec,
  pid: string | null,
): Promise<void> {
  const info = await exec.inspect().catch(() => null);
  if (!pid || !info?.Running) return;
  await execCapture(docker, containerId, [
    '/bin/sh',
    '-c',
    `kill -HUP ${pid} 2>/dev/null || kill -9 ${pid}`,
  ]).catch(() => {});
}
