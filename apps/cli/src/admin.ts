import { describeSystemDiskLimit } from '@tianqi/domain';
import { TRPCClientError } from '@trpc/client';
import type { ApiClient } from './api-client.js';
import { type Call, CliError, type CommandDef, UsageError } from './command.js';
import { type Field, fieldOptions, fieldValues, flagList } from './fields.js';
import { emit, fields, table, when } from './output.js';
import { imageId, nodeId, type Outputs, specId } from './resolve.js';

const s = (key: string, flag: string): Field => ({ key, flag, kind: 'string' });
const n = (key: string, flag: string): Field => ({ key, flag, kind: 'number' });
const i = (key: string, flag: string): Field => ({ key, flag, kind: 'int' });
const maybe = (key: string, flag: string): Field => ({ key, flag, kind: 'nullable' });
const file = (key: string, flag: string): Field => ({ key, flag, kind: 'file' });
const b = (key: string, flag: string, off: string): Field => ({ key, flag, kind: 'bool', off });
const listed = b('listed', 'listed', 'unlisted');
const remark = s('remark', 'remark');

/** The flags of `node add/update`: the fields of nodes.register (packages/domain/src/nodes/node.ts). */
const NODE_FIELDS: Field[] = [
  s('name', 'name'),
  s('region', 'region'),
  n('cpuCores', 'cpu-cores'),
  n('memoryGb', 'memory-gb'),
  i('systemDiskGb', 'system-disk-gb'),
  i('dataDiskGb', 'data-disk-gb'),
  maybe('publicIp', 'public-ip'),
  maybe('privateIp', 'private-ip'),
  i('sshPort', 'ssh-port'),
  s('sshUsername', 'ssh-username'),
  maybe('sshPassword', 'ssh-password'),
  maybe('gpuModel', 'gpu-model'),
  i('gpuCount', 'gpu-count'),
  n('vramGbPerGpu', 'vram-gb-per-gpu'),
  s('dockerAddress', 'docker-address'),
  b('useTls', 'tls', 'no-tls'),
  file('caCert', 'ca-cert'),
  file('clientCert', 'client-cert'),
  file('clientKey', 'client-key'),
  maybe('hamiCoreDir', 'hami-core-dir'),
  listed,
  remark,
];

const IMAGE_FIELDS: Field[] = [
  s('name', 'name'),
  s('address', 'address'),
  s('description', 'description'),
  s('source', 'source'),
  listed,
  b('supportsSlicing', 'supports-slicing', 'no-supports-slicing'),
  remark,
];

const SPEC_FIELDS: Field[] = [
  s('name', 'name'),
  maybe('gpuModel', 'gpu-model'),
  i('gpuCount', 'gpu-count'),
  n('vramGb', 'vram-gb'),
  b('slice', 'slice', 'no-slice'),
  n('cpuCores', 'cpu-cores'),
  n('memoryGb', 'memory-gb'),
  i('systemDiskGb', 'system-disk-gb'),
  i('dataDiskGb', 'data-disk-gb'),
  n('pricePerHour', 'price-per-hour'),
  listed,
  remark,
];

type Resource = 'node' | 'image' | 'spec';

/** The server names fields as the API does (`cpuCores: …`); a person typed `--cpu-cores`. */
async function inFlagTerms<T>(fieldList: Field[], run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof TRPCClientError) || err.data?.tianqiCode !== 'validation') throw err;
    let message = err.message;
    for (const f of fieldList)
      message = message.replace(new RegExp(`(^|; )(?:changes\\.)?${f.key}:`, 'g'), `$1--${f.flag}:`);
    throw new CliError(message);
  }
}

/**
 * `X add NAME --flags…`, `X update NAME|ID --flags…` and `X remove NAME|ID` for a catalog resource:
 * the same shape for nodes, images and specs, so it is written once.
 */
function manage(
  what: Resource,
  fieldList: Field[],
  api: {
    add(api: ApiClient, input: Record<string, unknown>): Promise<{ id: string }>;
    update(api: ApiClient, id: string, changes: Record<string, unknown>): Promise<unknown>;
    remove(api: ApiClient, id: string): Promise<unknown>;
    resolve(api: ApiClient, ref: string): Promise<string>;
    /** What else an add or update answered, said after it (a node's connection check). */
    outcome?: (result: unknown) => string;
  },
  required: string,
): CommandDef[] {
  const said = (result: unknown) => (api.outcome ? `; ${api.outcome(result)}` : '');
  const options = fieldOptions(fieldList);
  const details = `Flags (the API's fields; '' clears an optional text):\n  ${flagList(fieldList)}`;
  return [
    {
      usage: `${what} add NAME ${required}`,
      summary: `register ${what === 'image' ? 'an' : 'a'} ${what}`,
      details,
      args: [1, 1],
      options,
      async run(call) {
        const input = { ...fieldValues(call, fieldList), name: call.args[0]! };
        const result = await inFlagTerms(fieldList, () => api.add(call.api(), input));
        emit(call, result, (r) => `${what} ${input.name} added (${r.id})${said(r)}`);
        return 0;
      },
    },
    {
      usage: `${what} update NAME|ID [--flags as for add…]`,
      summary: `change some fields of a ${what}`,
      details,
      args: [1, 1],
      options,
      async run(call) {
        const changes = fieldValues(call, fieldList);
        if (Object.keys(changes).length === 0)
          throw new UsageError('nothing to change: give at least one flag');
        const id = await api.resolve(call.api(), call.args[0]!);
        const result = await inFlagTerms(fieldList, () => api.update(call.api(), id, changes));
        emit(call, result, (r) => `${what} ${call.args[0]} updated${said(r)}`);
        return 0;
      },
    },
    {
      usage: `${what} remove NAME|ID`,
      summary: `delete a ${what}`,
      args: [1, 1],
      async run(call) {
        const id = await api.resolve(call.api(), call.args[0]!);
        const result = await api.remove(call.api(), id);
        emit(call, result, () => `${what} ${call.args[0]} removed`);
        return 0;
      },
    },
  ];
}

type Node = Outputs['nodes']['get'];

/** A node's connection check as answered by register and update. */
function describeConnection(c: Outputs['nodes']['register']['connection']): string {
  if (c.status === 'connected')
    return `Docker connected${c.dockerVersion ? ` (Docker ${c.dockerVersion})` : ''}`;
  if (c.status === 'failed') return `Docker connection failed: ${c.reason}`;
  return `Docker connection not known yet: ${c.reason}`;
}

/** "enforced", "not supported (why)", …: whether Docker limits containers' system disks on the node. */
const diskLimit = (node: Node) => describeSystemDiskLimit(node.systemDiskLimit, node.systemDiskLimitReason);

const gpus = (node: Node) => (node.gpuCount > 0 ? `${node.gpusFree}/${node.gpuCount} ${node.gpuModel}` : '-');

function describeNode(node: Node): string {
  return fields([
    ['Name', node.name],
    ['ID', node.nodeId],
    ['Region', node.region],
    ['Docker', `${node.dockerAddress} (${node.useTls ? 'TLS' : 'plain TCP'})`],
    ['Docker status', `${node.dockerStatus}${node.dockerStatusReason ? `: ${node.dockerStatusReason}` : ''}`],
    ['Checked', when(node.dockerStatusAt)],
    ['CPU', `${node.cpuUsed} of ${node.cpuCores} cores in use`],
    ['Memory', `${node.memoryUsedGb} of ${node.memoryGb} GB in use`],
    ['Disks', `system ${node.systemDiskGb} GB, data ${node.dataDiskGb} GB`],
    ['Storage driver', node.storageDriver || null],
    ['System disk limit', diskLimit(node)],
    [
      'GPUs',
      node.gpuCount > 0
        ? `${node.gpusFree} of ${node.gpuCount} free (${node.gpuModel}, ${node.vramGbPerGpu} GB)`
        : 'none',
    ],
    ['HAMi-core', node.hamiCoreDir],
    ['Addresses', [node.publicIp, node.privateIp].filter(Boolean).join(', ')],
    ['SSH', `${node.sshUsername || '-'}@:${node.sshPort}${node.hasSshPassword ? ' (password set)' : ''}`],
    ['Instances', node.instanceCount],
    ['Listed', node.listed ? 'yes' : 'no'],
    ['Remark', node.remark],
    ['Created', when(node.createdAt)],
  ]);
}

const nodeCommands: CommandDef[] = [
  {
    usage: 'node list [--all]',
    summary: 'compute nodes with their Docker status and free capacity (--all: deleted ones too)',
    options: { all: { type: 'boolean', short: 'a' } },
    async run(call: Call) {
      const nodes = await call.api().nodes.list.query({ includeDeleted: call.flags.all === true });
      emit(call, nodes, (ns) =>
        table(
          [
            'NAME',
            'ID',
            'REGION',
            'DOCKER',
            'CPU',
            'MEMORY GB',
            'GPUS FREE',
            'INSTANCES',
            'SYSTEM DISK LIMIT',
            'ADDRESS',
          ],
          ns.map((x) => [
            x.name,
            x.nodeId,
            x.region,
            x.dockerStatus,
            `${x.cpuUsed}/${x.cpuCores}`,
            `${x.memoryUsedGb}/${x.memoryGb}`,
            gpus(x),
            x.instanceCount,
            x.systemDiskLimit === 'unsupported' ? 'not supported' : x.systemDiskLimit,
            x.dockerAddress,
          ]),
        ),
      );
      return 0;
    },
  },
  {
    usage: 'node show NAME|ID',
    summary: 'one node in full',
    args: [1, 1],
    async run(call) {
      const api = call.api();
      emit(call, await api.nodes.get.query({ nodeId: await nodeId(api, call.args[0]!) }), describeNode);
      return 0;
    },
  },
  {
    usage: 'node check NAME|ID',
    summary: 'test the node’s Docker connection now and record the result',
    args: [1, 1],
    async run(call) {
      const api = call.api();
      const node = await api.nodes.check.mutate({ nodeId: await nodeId(api, call.args[0]!) });
      emit(
        call,
        node,
        (x) => `${x.name}: ${x.dockerStatus}${x.dockerStatusReason ? ` (${x.dockerStatusReason})` : ''}`,
      );
      return 0;
    },
  },
  ...manage(
    'node',
    NODE_FIELDS,
    {
      add: (api, input) =>
        api.nodes.register.mutate(input as Parameters<ApiClient['nodes']['register']['mutate']>[0]),
      update: (api, id, changes) => api.nodes.update.mutate({ nodeId: id, changes }),
      remove: (api, id) => api.nodes.delete.mutate({ nodeId: id }),
      resolve: nodeId,
      outcome: (result) => describeConnection((result as Outputs['nodes']['register']).connection),
    },
    '--docker-address ADDR --cpu-cores N --memory-gb N --system-disk-gb N [--no-tls | --ca-cert FILE --client-cert FILE --client-key FILE] [--gpu-model M --gpu-count N --vram-gb-per-gpu N]',
  ),
];

const imageCommands: CommandDef[] = [
  {
    usage: 'image list',
    summary: 'images (admins see unlisted ones too)',
    async run(call) {
      const images = await call.api().images.list.query({ includeUnlisted: true });
      emit(call, images, (is) =>
        table(
          ['NAME', 'ID', 'ADDRESS', 'LISTED', 'SLICING', 'DESCRIPTION'],
          is.map((x) => [
            x.name,
            x.imageId,
            x.address,
            x.listed ? 'yes' : 'no',
            x.supportsSlicing ? 'yes' : 'no',
            x.description,
          ]),
        ),
      );
      return 0;
    },
  },
  ...manage(
    'image',
    IMAGE_FIELDS,
    {
      add: (api, input) =>
        api.images.create.mutate(input as Parameters<ApiClient['images']['create']['mutate']>[0]),
      update: (api, id, changes) => api.images.update.mutate({ imageId: id, changes }),
      remove: (api, id) => api.images.delete.mutate({ imageId: id }),
      resolve: imageId,
    },
    '--address REF [--description TEXT] [--source TEXT] [--unlisted] [--supports-slicing]',
  ),
];

const specCommands: CommandDef[] = [
  {
    usage: 'spec list',
    summary: 'product specs (admins see unlisted ones too)',
    async run(call) {
      const specs = await call.api().specs.list.query({ includeUnlisted: true });
      emit(call, specs, (ss) =>
        table(
          ['NAME', 'ID', 'GPUS', 'VRAM GB', 'CPU', 'MEMORY GB', 'DISKS GB', 'PRICE/H', 'LISTED'],
          ss.map((x) => [
            x.name,
            x.specId,
            x.gpuCount > 0 ? `${x.gpuCount}× ${x.gpuModel}${x.slice ? ' (slice)' : ''}` : 'none',
            x.vramGb,
            x.cpuCores,
            x.memoryGb,
            `${x.systemDiskGb}+${x.dataDiskGb}`,
            x.pricePerHour.toFixed(2),
            x.listed ? 'yes' : 'no',
          ]),
        ),
      );
      return 0;
    },
  },
  ...manage(
    'spec',
    SPEC_FIELDS,
    {
      add: (api, input) =>
        api.specs.create.mutate(input as Parameters<ApiClient['specs']['create']['mutate']>[0]),
      update: (api, id, changes) => api.specs.update.mutate({ specId: id, changes }),
      remove: (api, id) => api.specs.delete.mutate({ specId: id }),
      resolve: specId,
    },
    '--gpu-count N --cpu-cores N --memory-gb N --system-disk-gb N --price-per-hour YUAN [--gpu-model M --vram-gb N [--slice]]',
  ),
];

/** Admins' catalog: nodes, images, specs. */
export const adminCommands: CommandDef[] = [...nodeCommands, ...imageCommands, ...specCommands];
