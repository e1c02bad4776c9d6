import type Docker from 'dockerode';
import { settleWithin } from '../shutdown/settle-within.js';
import { execCapture } from './exec.js';

/**
 * Docker does not end an exec when its client goes away: a terminal closed or an `ssh host 'cmd'`
 * killed would leave its processes running in the container, unseen. So sessions start through
 * `/bin/sh`, which first announces its PID (`ANNOUNCE_PID`, on stderr, before the command itself
 * runs); `PidAnnouncement` takes that line off the output, and `hangUp` ends the process group (Docker
 * starts every exec as a session and process-group leader, so the group is the command's pipeline).
 */
const MARK = 'tianqi-pid:';

/** Shell code that announces the shell's PID, first, on stderr (the TTY, when there is one). */
export const ANNOUNCE_PID = `echo "${MARK}$$" >&2`;

const NOTHING = Buffer.alloc(0);
/** Output held back while looking for the announcement, at most. */
const LOOK_AHEAD = 256;

/** Takes the PID announcement off the output (a stream of bytes), keeping the PID. */
export class PidAnnouncement {
  pid: string | null = null;
  #head: Buffer | null = NOTHING;
  #settle!: () => void;
  /** Resolves once the announcement has been read, or given up on. */
  readonly settled = new Promise<void>((resolve) => {
    this.#settle = resolve;
  });

  /**
   * The bytes to pass on: none while the announcement is still to come. It is looked for in the first
   * bytes, not only the first line: with a TTY, input typed ahead is echoed before it.
   */
  take(chunk: Buffer): Buffer {
    if (this.#head === null) return chunk;
    const head = Buffer.concat([this.#head, chunk]);
    const at = head.indexOf(MARK);
    const nl = at < 0 ? -1 : head.indexOf('\n', at);
    if (nl < 0 && head.length < LOOK_AHEAD) {
      this.#head = head;
      return NOTHING;
    }
    this.#head = null;
    this.#settle();
    const digits = nl < 0 ? null : /^(\d+)\r?$/.exec(head.subarray(at + MARK.length, nl).toString());
    if (!digits) return head;
    this.pid = digits[1]!;
    return Buffer.concat([head.subarray(0, at), head.subarray(nl + 1)]);
  }
}

/**
 * Hangs the announced process group up, as a closing terminal would (SIGHUP), if the exec still runs;
 * what is left of the group 2 s later is killed (a process may ignore SIGHUP).
 */
export async function hangUp(
  docker: Docker,
  containerId: string,
  exec: Docker.Exec,
  announcement: PidAnnouncement,
): Promise<void> {
  // The client may go before the announcement has come through: it comes at once, so wait a little.
  await settleWithin([announcement.settled], 2_000);
  const pid = announcement.pid;
  const info = await exec.inspect().catch(() => null);
  if (!pid || !info?.Running) return;
  // `kill -s SIG -PID` (not `kill -SIG -- -PID`): the form every sh's kill takes, busybox's too.
  await execCapture(docker, containerId, [
    '/bin/sh',
    '-c',
    // Up to 2 s for its process group to go, looked at every 0.1 s (1 s where sleep takes whole seconds only), so a
    // shell that ends on the hang-up is over at once and its session recorded without a wait.
    `kill -s HUP -${pid} 2>/dev/null || kill -s HUP ${pid} 2>/dev/null || exit 0; ` +
      `i=0; while [ $i -lt 20 ] && { kill -s 0 -${pid} 2>/dev/null || kill -s 0 ${pid} 2>/dev/null; }; do sleep 0.1 2>/dev/null || { sleep 1; i=$((i+9)); }; i=$((i+1)); done; ` +
      `kill -s KILL -${pid} 2>/dev/null || kill -s KILL ${pid} 2>/dev/null; exit 0`,
  ]).catch(() => {});
}
