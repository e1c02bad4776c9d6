import { readFileSync } from 'node:fs';
import { StartError } from '../start-error.js';

/** Descriptors kept for everything but SSH: at least this many, and at least half the limit. */
export const RESERVED_MIN = 256;
/** Sessions (shells, commands) one SSH connection may have open at once (OpenSSH's MaxSessions). */
export const MAX_SESSIONS = 10;
/** Descriptors one SSH connection is counted for: its socket and each of its sessions' Docker stream. */
export const PER_CONNECTION = 1 + MAX_SESSIONS;
/** When the limit cannot be read (not Linux): the usual soft limit. */
const FALLBACK_LIMIT = 1024;

/** The open-file limit cannot hold the SSH budget asked for: `tianqi start` says so and stops. */
export class DescriptorBudgetError extends StartError {}

/**
 * The process's soft RLIMIT_NOFILE, from /proc/self/limits (Node raises the soft limit to the hard
 * one at start, so this is what the process really has). "unlimited" counts as 1,048,576.
 */
export function openFileLimit(limitsText?: string): number {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return FALLBACK_LIMIT;
    }
  }
  const soft = /^Max open files\s+(\S+)/m.exec(text)?.[1];
  if (soft === 'unlimited') return 1_048_576;
  const n = Number(soft);
  return Number.isInteger(n) && n > 0 ? n : FALLBACK_LIMIT;
}

/**
 * How many SSH connections may be open at once, so that SSH can never take the descriptors HTTP, the
 * database pool and Docker need: half the limit (at least RESERVED_MIN) is kept for them, and each SSH
 * connection counts PER_CONNECTION. `configured` (jumpbox.max-connections) lowers it; 0 means "from
 * the limit"; above what the limit allows it is refused, as a start with a bad key is.
 */
export function sshConnectionBudget(limit: number, configured: number): number {
  const reserved = Math.max(RESERVED_MIN, Math.ceil(limit / 2));
  const allowed = Math.floor(Math.max(0, limit - reserved) / PER_CONNECTION);
  if (allowed < 1) {
    throw new DescriptorBudgetError(
      `The process may open only ${limit} files (ulimit -n): too few to run the SSH jumpbox; raise the limit or set jumpbox.enabled to false.`,
    );
  }
  if (configured > allowed) {
    throw new DescriptorBudgetError(
      `jumpbox.max-connections is ${configured}, but with ${limit} open files allowed (ulimit -n) at most ${allowed} SSH connections leave HTTP and the database their descriptors.`,
    );
  }
  return configured === 0 ? allowed : configured;
}
