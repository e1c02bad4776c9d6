import type { NodeState } from '@tianqi/domain';
import Docker from 'dockerode';

/** What the platform needs to reach a node's Docker engine (secrets already opened). */
export interface NodeEndpoint {
  nodeId: string;
  dockerAddress: string;
  useTls: boolean;
  caCert: string | null;
  clientCert: string | null;
  clientKey: string | null;
}

export function endpointOf(node: NodeState, clientKey: string | null): NodeEndpoint {
  return {
    nodeId: node.nodeId,
    dockerAddress: node.dockerAddress,
    useTls: node.useTls,
    caCert: node.caCert,
    clientCert: node.clientCert,
    clientKey,
  };
}

/** A dockerode client for a node: unix socket, plain TCP, or TCP with mutual TLS. */
export function dockerFor(endpoint: NodeEndpoint, timeoutMs = 30_000): Docker {
  const address = endpoint.dockerAddress;
  if (address.startsWith('unix://'))
    return new Docker({ socketPath: address.slice('unix://'.length), timeout: timeoutMs });
  const url = new URL(address);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port);
  if (!endpoint.useTls) return new Docker({ protocol: 'http', host, port, timeout: timeoutMs });
  return new Docker({
    protocol: 'https',
    host,
    port,
    ca: endpoint.caCert ?? undefined,
    cert: endpoint.clientCert ?? undefined,
    key: endpoint.clientKey ?? undefined,
    timeout: timeoutMs,
  });
}

/**
 * One client per node, made again when the node's connection settings change (a new address,
 * certificate or key), so an admin's fix takes effect at the next call.
 */
export class NodeClients {
  readonly #clients = new Map<string, { key: string; docker: Docker }>();

  /** `timeoutMs` 0: no idle timeout, for long streams (logs followed, terminals). */
  constructor(private readonly options: { timeoutMs?: number } = {}) {}

  /** The client of a registered node; `secrets` opens its sealed client key. */
  forNode(node: NodeState, secrets: { openSecrets(node: NodeState): { clientKey: string | null } }): Docker {
    return this.get(endpointOf(node, secrets.openSecrets(node).clientKey));
  }

  get(endpoint: NodeEndpoint): Docker {
    const key = JSON.stringify([
      endpoint.dockerAddress,
      endpoint.useTls,
      endpoint.caCert,
      endpoint.clientCert,
      endpoint.clientKey,
    ]);
    const cached = this.#clients.get(endpoint.nodeId);
    if (cached?.key === key) return cached.docker;
    const docker = dockerFor(endpoint, this.options.timeoutMs ?? 30_000);
    this.#clients.set(endpoint.nodeId, { key, docker });
    return docker;
  }
}
