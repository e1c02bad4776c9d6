import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** A container as the stand-in engine lists it (the fields of `GET /containers/json` the platform reads). */
export interface StandInContainer {
  Id: string;
  Names: string[];
  Image: string;
  State: 'created' | 'running';
  Status: string;
  Created: number;
  Labels: Record<string, string>;
}

/**
 * Enough of the Docker Engine API, on a unix socket, for the reconciler and the sync (version, info,
 * list, create, start, inspect, stats, disk usage), from a table of containers and at no cost worth counting: a bench
 * can give the platform thousands of containers on nodes that answer without measuring Docker too.
 * `indexedLabel` (the platform's instance label) is looked up directly when a list filters on it, so
 * a list for one instance does not scan every container.
 */
export class StandInDockerEngine {
  readonly containers = new Map<string, StandInContainer>();
  readonly #byLabel = new Map<string, StandInContainer>();
  /** Calls by route; anything the engine does not know is answered 404 and counted under "unknown: …". */
  readonly calls = new Map<string, number>();
  #cpu = 0;
  readonly #server: Server;

  constructor(
    readonly socketPath: string,
    readonly indexedLabel: string,
  ) {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: String(err) }));
      });
    });
  }

  add(c: StandInContainer): void {
    this.containers.set(c.Id, c);
    const key = c.Labels[this.indexedLabel];
    if (key) this.#byLabel.set(key, c);
  }

  /** Calls the engine did not know, as `route×count`. */
  unknownCalls(): [string, number][] {
    return [...this.calls].filter(([route]) => route.startsWith('unknown'));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.socketPath, () => resolve());
    });
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #count(route: string): void {
    this.calls.set(route, (this.calls.get(route) ?? 0) + 1);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    const url = new URL(req.url ?? '/', 'http://engine');
    const path = url.pathname.replace(/^\/v[\d.]+\//, '/');
    const id = /^\/containers\/([^/]+)\//.exec(path)?.[1];
    const route = `${req.method} ${id ? path.replace(id, ':id') : path}`;
    const send = (status: number, value?: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(value === undefined ? '' : JSON.stringify(value));
    };
    const container = id ? this.containers.get(id) : undefined;
    this.#count(route);
    switch (route) {
      case 'GET /_ping':
        res.end('OK');
        return;
      case 'GET /events':
        // A quiet stream, open until the client goes: nothing here changes by itself.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        return;
      case 'GET /info':
        return send(200, { Driver: 'overlay2', DriverStatus: [['Backing Filesystem', 'extfs']] });
      case 'GET /system/df':
        // Every container's writable layer, as Docker answers; no volumes (none are made here).
        return send(200, {
          Volumes: [],
          Containers: [...this.containers.values()].map((c) => ({
            Id: c.Id,
            SizeRw: 4096,
            SizeRootFs: 2 ** 20,
          })),
        });
      case 'GET /version':
        return send(200, { Version: '27.5.1', ApiVersion: '1.47', Os: 'linux', Arch: 'amd64' });
      case 'GET /containers/json': {
        const labels: string[] = JSON.parse(url.searchParams.get('filters') ?? '{}').label ?? [];
        const matches = (c: StandInContainer) =>
          labels.every((l) => {
            const eq = l.indexOf('=');
            return eq < 0 ? l in c.Labels : c.Labels[l.slice(0, eq)] === l.slice(eq + 1);
          });
        const one = labels.find((l) => l.startsWith(`${this.indexedLabel}=`));
        const pool = one
          ? [this.#byLabel.get(one.slice(this.indexedLabel.length + 1))].filter((c) => c !== undefined)
          : [...this.containers.values()];
        return send(200, pool.filter(matches));
      }
      case 'POST /containers/create': {
        const spec = JSON.parse(body) as { Image: string; Labels?: Record<string, string> };
        const made: StandInContainer = {
          Id: randomBytes(32).toString('hex'),
          Names: [`/${url.searchParams.get('name') ?? 'unnamed'}`],
          Image: spec.Image,
          State: 'created',
          Status: 'Created',
          Created: Math.floor(Date.now() / 1000),
          Labels: spec.Labels ?? {},
        };
        this.add(made);
        return send(201, { Id: made.Id, Warnings: [] });
      }
      case 'POST /containers/:id/start':
        if (!container) return send(404, { message: `No such container: ${id}` });
        if (container.State === 'running') return send(304);
        container.State = 'running';
        container.Status = 'Up 1 second';
        return send(204);
      case 'GET /containers/:id/json':
        if (!container) return send(404, { message: `No such container: ${id}` });
        return send(200, {
          Id: container.Id,
          Name: container.Names[0],
          State: {
            Status: container.State,
            Running: container.State === 'running',
            Restarting: false,
            OOMKilled: false,
            ExitCode: 0,
          },
          Mounts: [],
        });
      case 'GET /containers/:id/stats': {
        if (!container) return send(404, { message: `No such container: ${id}` });
        this.#cpu += 1e7;
        return send(200, {
          cpu_stats: {
            cpu_usage: { total_usage: this.#cpu },
            system_cpu_usage: this.#cpu * 50,
            online_cpus: 2,
          },
          memory_stats: { usage: 64 * 2 ** 20, limit: 2 ** 30, stats: { inactive_file: 2 ** 20 } },
          networks: { eth0: { rx_bytes: 1000, tx_bytes: 2000 } },
          blkio_stats: { io_service_bytes_recursive: [{ op: 'read', value: 4096 }] },
          pids_stats: { current: 3 },
        });
      }
      default:
        this.calls.set(route, (this.calls.get(route) ?? 0) - 1);
        this.#count(`unknown: ${route}`);
        return send(404, { message: `the bench's stand-in engine does not answer ${route}` });
    }
  }
}
