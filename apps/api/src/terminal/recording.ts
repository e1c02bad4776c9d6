import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type pg from 'pg';

/** A recording stops growing here (and says it was cut): a `cat` of a huge file is not kept whole. */
export const MAX_RECORDING_BYTES = 5 * 1024 * 1024;

/**
 * An asciicast v2 recording of one terminal session: a header line, then `[seconds, "o", text]` for
 * what was shown, `[seconds, "i", text]` for what was typed and `[seconds, "r", "COLSxROWS"]` for each
 * resize. Bytes are decoded as UTF-8 across chunk boundaries, so a character split by the network
 * stays whole.
 */
export class Recorder {
  readonly id = randomBytes(9).toString('base64url');
  readonly startedAt = new Date();
  readonly #lines: string[];
  #bytes: number;
  truncated = false;
  readonly #out = new StringDecoder('utf8');
  readonly #in = new StringDecoder('utf8');

  constructor(size: { cols: number; rows: number; term: string }) {
    const header = JSON.stringify({
      version: 2,
      width: size.cols,
      height: size.rows,
      timestamp: Math.floor(this.startedAt.getTime() / 1000),
      env: { TERM: size.term },
    });
    this.#lines = [header];
    this.#bytes = header.length;
  }

  output(bytes: Buffer): void {
    this.#event('o', this.#out.write(bytes));
  }

  input(bytes: Buffer): void {
    this.#event('i', this.#in.write(bytes));
  }

  resize(cols: number, rows: number): void {
    this.#event('r', `${cols}x${rows}`);
  }

  #event(kind: 'o' | 'i' | 'r', text: string): void {
    if (this.truncated || text === '') return;
    const line = JSON.stringify([(Date.now() - this.startedAt.getTime()) / 1000, kind, text]);
    if (this.#bytes + line.length > MAX_RECORDING_BYTES) {
      this.truncated = true;
      return;
    }
    this.#lines.push(line);
    this.#bytes += line.length + 1;
  }

  /** The recording as an asciicast v2 file. */
  text(): string {
    return `${this.#lines.join('\n')}\n`;
  }

  async save(pool: pg.Pool, session: { instanceId: string; userId: string; via: string }): Promise<string> {
    const cast = this.text();
    await pool.query(
      `INSERT INTO terminal_recordings
         (recording_id, instance_id, user_id, via, started_at, ended_at, bytes, truncated, cast_text)
       VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8)`,
      [
        this.id,
        session.instanceId,
        session.userId,
        session.via,
        this.startedAt,
        Buffer.byteLength(cast),
        this.truncated,
        cast,
      ],
    );
    return this.id;
  }
}

/** A kept recording without its text, as an instance's list of sessions shows it. */
export interface RecordingSummary {
  recordingId: string;
  userId: string;
  /** Null when the users read model has no row for the user. */
  username: string | null;
  via: string;
  startedAt: Date;
  endedAt: Date;
  bytes: number;
  truncated: boolean;
}

/** An instance's recordings (web, CLI and SSH), newest first, at most 500. */
export function listRecordings(pool: pg.Pool, instanceId: string): Promise<RecordingSummary[]> {
  return listAllRecordings(pool, { instanceId, limit: 500 });
}

/** One recording of this instance as its asciicast text, or null when the instance has no such one. */
export async function readRecording(
  pool: pg.Pool,
  instanceId: string,
  recordingId: string,
): Promise<{ truncated: boolean; cast: string } | null> {
  const { rows } = await pool.query<{ truncated: boolean; cast_text: string }>(
    'SELECT truncated, cast_text FROM terminal_recordings WHERE recording_id = $1 AND instance_id = $2',
    [recordingId, instanceId],
  );
  return rows[0] ? { truncated: rows[0].truncated, cast: rows[0].cast_text } : null;
}

/** A recording as the admins' list across instances shows it: whose session, on which instance. */
export interface RecordingEntry extends RecordingSummary {
  instanceId: string;
  /** Null when the instances read model has no row for it. */
  instanceName: string | null;
}

/**
 * Everyone's recordings, newest first, at most `limit`: those after the recording `after` in that
 * order (the last page's last, for the next page: by its start and id, so recordings that started in
 * the same instant are neither skipped nor shown twice), of one user or instance when asked.
 */
export async function listAllRecordings(
  pool: pg.Pool,
  filter: { userId?: string; instanceId?: string; after?: string; limit: number },
): Promise<RecordingEntry[]> {
  const { rows } = await pool.query<{
    recording_id: string;
    instance_id: string;
    instance_name: string | null;
    user_id: string;
    username: string | null;
    via: string;
    started_at: Date;
    ended_at: Date;
    bytes: number;
    truncated: boolean;
  }>(
    `SELECT r.recording_id, r.instance_id, i.name AS instance_name, r.user_id, u.username, r.via,
            r.started_at, r.ended_at, r.bytes, r.truncated
     FROM terminal_recordings r
     LEFT JOIN rm.users u ON u.user_id = r.user_id
     LEFT JOIN rm.instances i ON i.instance_id = r.instance_id
     WHERE ($1::text IS NULL OR r.user_id = $1) AND ($2::text IS NULL OR r.instance_id = $2)
       AND ($3::text IS NULL OR (r.started_at, r.recording_id) <
            (SELECT started_at, recording_id FROM terminal_recordings WHERE recording_id = $3))
     ORDER BY r.started_at DESC, r.recording_id DESC LIMIT $4`,
    [filter.userId ?? null, filter.instanceId ?? null, filter.after ?? null, filter.limit],
  );
  return rows.map((r) => ({
    recordingId: r.recording_id,
    instanceId: r.instance_id,
    instanceName: r.instance_name,
    userId: r.user_id,
    username: r.username,
    via: r.via,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    bytes: r.bytes,
    truncated: r.truncated,
  }));
}
