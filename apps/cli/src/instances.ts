import { observedStateSchema } from '@tianqi/domain';
import { bool, CliError, type CommandDef, number, required, string, UsageError } from './command.js';
import { emit, fields, table, when } from './output.js';
import { candidateNodeId, findInstance, type Instance, imageId, specId } from './resolve.js';

const state = (i: Instance) => `${i.desired}/${i.observed}`;

function describe(i: Instance): string {
  const spec = i.spec as Record<string, unknown>;
  const gpus = Number(spec.gpuCount ?? 0) > 0 ? `${spec.gpuCount}× ${spec.gpuModel}, ` : '';
  return fields([
    ['Name', i.name],
    ['ID', i.instanceId],
    ['State', `${state(i)} (desired/observed)`],
    ['Node', `${i.nodeName} (${i.nodeId})`],
    ['Image', `${i.imageName} (${i.imageAddress})`],
    ['Spec', `${i.specName}: ${gpus}${spec.cpuCores} CPU, ${spec.memoryGb} GB, ¥${spec.pricePerHour}/h`],
    ['Container', i.containerName ? `${i.containerName} (${i.containerId?.slice(0, 12)})` : null],
    ['Exit code', i.exitCode === null ? null : `${i.exitCode}${i.oomKilled ? ' (out of memory)' : ''}`],
    ['Failure', i.failure ? `${i.failure.phase}: ${i.failure.reason}` : null],
    ['Retrying', i.reconcileError ? retrying(i.reconcileError) : null],
    ['Remark', i.remark],
    ['Created', when(i.createdAt)],
    ['Updated', when(i.updatedAt)],
  ]);
}

/** What the platform keeps failing on, since when, and when it tries again. */
function retrying(e: NonNullable<Instance['reconcileError']>): string {
  const attempts = e.attempts ? `, ${e.attempts} attempts` : '';
  return `${e.reason} (since ${when(e.since)}${attempts}; next attempt ${when(e.retryAt)})`;
}

/** start/stop/restart/delete: ask, and say so; the reconciler does the work (see `instance wait`). */
const PAST = { start: 'started', stop: 'stopped', restart: 'restarted', delete: 'deleted' } as const;
const request = (verb: keyof typeof PAST): CommandDef => ({
  usage: `instance ${verb} NAME|ID`,
  summary: `ask for the instance to be ${PAST[verb]}`,
  args: [1, 1],
  async run(call) {
    const api = call.api();
    const instance = await findInstance(api, call.args[0]!);
    const result = await api.instances[verb].mutate({ instanceId: instance.instanceId });
    emit(call, result, () => `${verb} requested for ${instance.name} (${instance.instanceId})`);
    return 0;
  },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Instances: create, list, inspect, act on, wait for. Logs, stats and shell live in their own files. */
export const instanceCommands: CommandDef[] = [
  {
    usage: 'instance create NAME --image IMAGE --spec SPEC [--node NODE] [--remark TEXT]',
    summary: 'create an instance (image, spec and node by name or id); it starts by itself',
    args: [1, 1],
    options: {
      image: { type: 'string' },
      spec: { type: 'string' },
      node: { type: 'string' },
      remark: { type: 'string' },
    },
    async run(call) {
      const api = call.api();
      const image = required(call, 'image');
      const spec = required(call, 'spec');
      const node = string(call, 'node');
      const resolvedSpec = await specId(api, spec);
      const input = {
        name: call.args[0]!,
        imageId: await imageId(api, image),
        specId: resolvedSpec,
        nodeId: node === undefined ? undefined : await candidateNodeId(api, resolvedSpec, node),
        remark: string(call, 'remark') ?? '',
      };
      const result = await api.instances.create.mutate(input);
      const { nodeName } = call.json
        ? { nodeName: '' }
        : await api.instances.get.query({ instanceId: result.id });
      emit(call, result, (r) => `created instance ${input.name} (${r.id}) on node ${nodeName}`);
      return 0;
    },
  },
  {
    usage: 'instance list [--all] [--limit N]',
    summary: 'your instances (admins: everyone’s); --all includes deleted ones',
    options: { all: { type: 'boolean', short: 'a' }, limit: { type: 'string' } },
    async run(call) {
      const page = await call.api().instances.list.query({
        includeDeleted: bool(call, 'all'),
        limit: number(call, 'limit', { int: true, min: 1 }) ?? 100,
      });
      emit(call, page, (p) =>
        table(
          ['NAME', 'ID', 'STATE', 'NODE', 'SPEC', 'IMAGE', 'CREATED'],
          p.items.map((i) => [
            i.name,
            i.instanceId,
            state(i),
            i.nodeName,
            i.specName,
            i.imageName,
            when(i.createdAt),
          ]),
        ),
      );
      return 0;
    },
  },
  {
    usage: 'instance show NAME|ID',
    summary: 'one instance in full',
    args: [1, 1],
    async run(call) {
      emit(call, await findInstance(call.api(), call.args[0]!), describe);
      return 0;
    },
  },
  request('start'),
  request('stop'),
  request('restart'),
  request('delete'),
  {
    usage: 'instance history NAME|ID',
    summary: 'who did what to it and what the platform saw, in order',
    args: [1, 1],
    async run(call) {
      const api = call.api();
      const instance = await findInstance(api, call.args[0]!);
      const history = await api.instances.history.query({ instanceId: instance.instanceId });
      emit(call, history, (h) =>
        table(
          ['TIME', 'EVENT', 'BY', 'FROM', 'SUMMARY'],
          h.map((e) => [
            when(e.recordedAt),
            e.type,
            e.actorName ?? e.actorUserId,
            e.actorIp ?? '-',
            e.summary,
          ]),
        ),
      );
      return 0;
    },
  },
  {
    usage: 'instance wait NAME|ID --state STATE [--timeout SECONDS]',
    summary: `wait until the observed state is STATE (${observedStateSchema.options.join(', ')}); default 120 s`,
    args: [1, 1],
    options: { state: { type: 'string' }, timeout: { type: 'string' } },
    async run(call) {
      const want = observedStateSchema.safeParse(required(call, 'state'));
      if (!want.success)
        throw new UsageError(`--state must be one of ${observedStateSchema.options.join(', ')}`);
      const deadline = Date.now() + (number(call, 'timeout', { min: 0 }) ?? 120) * 1000;
      const api = call.api();
      const { instanceId } = await findInstance(api, call.args[0]!);
      for (;;) {
        const i = await api.instances.get.query({ instanceId });
        if (i.observed === want.data) {
          emit(call, i, () => `${i.name} is ${i.observed}`);
          return 0;
        }
        // A failure may be retried by the reconciler, so it is no reason to stop waiting; it is the answer to "why".
        if (Date.now() > deadline) {
          const why = i.reconcileError
            ? ` (retrying: ${i.reconcileError.reason})`
            : i.failure
              ? ` (${i.failure.phase}: ${i.failure.reason})`
              : '';
          throw new CliError(`timed out: ${i.name} is ${state(i)}${why}, not ${want.data}`);
        }
        await sleep(500);
      }
    },
  },
];
