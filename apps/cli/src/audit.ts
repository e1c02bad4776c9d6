import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import {
  bool,
  type Call,
  CliError,
  type CommandDef,
  date,
  EXIT,
  number,
  string,
  UsageError,
} from './command.js';
import { emit, hours, table, when } from './output.js';
import { nodeId } from './resolve.js';

const FILTERS = {
  type: { type: 'string' },
  instance: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
} as const;

function filters(call: Call) {
  return {
    type: string(call, 'type'),
    instanceId: string(call, 'instance'),
    from: date(call, 'from'),
    to: date(call, 'to'),
  };
}

/** This month so far, in the reader's time zone, unless --from/--to say otherwise. */
function period(call: Call): { from: Date; to: Date } {
  const now = new Date();
  return {
    from: date(call, 'from') ?? new Date(now.getFullYear(), now.getMonth(), 1),
    to: date(call, 'to') ?? now,
  };
}

/** The export is a plain HTTP download (streamed by the server), not a tRPC call. */
async function exportAudit(call: Call): Promise<number> {
  const format = string(call, 'format') ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'csv') throw new UsageError('--format is csv or jsonl');
  const query = new URLSearchParams({ format });
  for (const [k, v] of Object.entries(filters(call))) {
    if (v !== undefined) query.set(k, v instanceof Date ? v.toISOString() : v);
  }
  call.api(); // fails early (exit 3) when signed out
  const res = await fetch(`${call.server}/api/audit/export?${query}`, {
    headers: { authorization: `Bearer ${call.token}` },
  });
  if (!res.ok || !res.body) {
    const body = (await res.json().catch(() => ({}))) as { message?: string };
    throw new CliError(
      body.message ?? `the export failed (HTTP ${res.status})`,
      res.status === 401 ? EXIT.signedOut : EXIT.failed,
    );
  }
  const output = string(call, 'output');
  const body = Readable.fromWeb(res.body as ReadableStream<Uint8Array>);
  if (output) {
    await pipeline(body, createWriteStream(output));
    process.stderr.write(`audit log written to ${output}\n`);
  } else await pipeline(body, process.stdout, { end: false });
  return 0;
}

/** Admins' views of what happened: the audit log, drift, usage (usage is for everyone). */
export const auditCommands: CommandDef[] = [
  {
    usage: 'audit [--type T] [--instance ID] [--from ISO] [--to ISO] [--limit N] [--offset N]',
    summary: 'the global audit log, oldest first (admins)',
    options: { ...FILTERS, limit: { type: 'string' }, offset: { type: 'string' } },
    async run(call) {
      const page = await call.api().audit.list.query({
        ...filters(call),
        limit: number(call, 'limit', { int: true, min: 1 }) ?? 50,
        offset: number(call, 'offset', { int: true, min: 0 }) ?? 0,
      });
      emit(call, page, (p) =>
        [
          table(
            ['TIME', 'EVENT', 'STREAM', 'BY', 'IP', 'SUMMARY'],
            p.items.map((e) => [
              when(e.recordedAt),
              e.type,
              e.streamId,
              e.actorName ?? e.actorUserId,
              e.actorIp,
              e.summary,
            ]),
          ),
          `(${p.items.length} of ${p.total})`,
        ].join('\n'),
      );
      return 0;
    },
  },
  {
    usage:
      'audit export [--format csv|jsonl] [--output FILE] [--type T] [--instance ID] [--from ISO] [--to ISO]',
    summary: 'download the whole filtered audit log (default jsonl to stdout)',
    options: { ...FILTERS, format: { type: 'string' }, output: { type: 'string', short: 'o' } },
    run: exportAudit,
  },
  {
    usage: 'drift [--all]',
    summary: 'where Docker and the platform disagree now (--all: resolved drift too)',
    options: { all: { type: 'boolean', short: 'a' } },
    async run(call) {
      const drift = await call.api().drift.list.query({ includeResolved: bool(call, 'all') });
      emit(call, drift, (ds) =>
        ds.length === 0
          ? 'no drift'
          : table(
              ['DETECTED', 'KIND', 'SUBJECT', 'OPEN', 'DETAIL'],
              ds.map((d) => [
                when(d.detectedAt),
                d.kind,
                d.subject,
                d.open ? 'yes' : `no (${when(d.resolvedAt)})`,
                d.detail,
              ]),
            ),
      );
      return 0;
    },
  },
  {
    usage: 'drift converge [--node NODE] [INSTANCE_ID…]',
    summary: 'act now on these instances, a node’s, or (neither given) every one with open drift',
    options: { node: { type: 'string' } },
    args: [0, 1000],
    async run(call) {
      const node = string(call, 'node');
      if (node && call.args.length > 0) throw new UsageError('name instances or --node, not both');
      const api = call.api();
      const result = await api.drift.converge.mutate({
        nodeId: node === undefined ? undefined : await nodeId(api, node),
        instanceIds: call.args.length > 0 ? call.args : undefined,
      });
      emit(call, result, (r) => `${r.queued} instance(s) queued for the reconciler`);
      return 0;
    },
  },
  {
    usage: 'drift sync',
    summary: 'look at every node now instead of at the next 30-second tick',
    async run(call) {
      const result = await call.api().drift.syncNow.mutate();
      emit(
        call,
        result,
        (r) => `synced ${r.nodes} node(s) in ${Math.round(r.ms)} ms; ${r.sampled} instance(s) sampled`,
      );
      return 0;
    },
  },
  {
    usage: 'usage [--from ISO] [--to ISO] [--all-users]',
    summary: 'running time and cost over a period (default: this month); --all-users for admins',
    options: { from: { type: 'string' }, to: { type: 'string' }, 'all-users': { type: 'boolean' } },
    async run(call) {
      const api = call.api();
      const p = period(call);
      if (bool(call, 'all-users')) {
        const [rows, users] = await Promise.all([api.usage.byUser.query(p), api.users.list.query()]);
        const names = new Map(users.map((u) => [u.userId, u.username]));
        emit(call, rows, (rs) =>
          table(
            ['USER', 'INSTANCES', 'HOURS', 'COST'],
            rs.map((r) => [
              names.get(r.ownerId) ?? r.ownerId,
              r.instances,
              hours(r.seconds),
              r.cost.toFixed(2),
            ]),
          ),
        );
        return 0;
      }
      const [usage, page] = await Promise.all([
        api.usage.mine.query(p),
        api.instances.list.query({ includeDeleted: true, limit: 500 }),
      ]);
      const names = new Map(page.items.map((i) => [i.instanceId, i.name]));
      emit(call, usage, (u) =>
        [
          `${when(p.from)} – ${when(p.to)}`,
          table(
            ['INSTANCE', 'ID', 'HOURS', 'PRICE/H', 'COST'],
            u.instances.map((i) => [
              names.get(i.instanceId),
              i.instanceId,
              hours(i.seconds),
              i.pricePerHour.toFixed(2),
              i.cost.toFixed(2),
            ]),
          ),
          `total: ${hours(u.seconds)} h, ¥${u.cost.toFixed(2)}`,
        ].join('\n'),
      );
      return 0;
    },
  },
];
