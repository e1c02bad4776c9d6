import { type DriftKind, type InstanceState, instanceGone } from './instance.js';

/** What the sync saw of an instance's container in its node's list (Docker's `State`). */
export type ContainerSeen =
  /** Not in the list; `recordedStillThere`: the container on record still answered a look of its own. */
  | { state: 'absent'; recordedStillThere: boolean }
  /** restarting, removing, created: in the middle of something, often the reconciler's own work. */
  | { state: 'changing' }
  | { state: 'running' }
  /** exited or dead, with Docker's words for it ("Exited (137) 2 minutes ago"). */
  | { state: 'stopped'; status: string };

/** What the platform should record after a look at an instance's container. */
export interface DriftFinding {
  /** The drift seen now, with what Docker showed against what was wanted. */
  drift: { kind: DriftKind; detail: string }[];
  /** An observation to record: started, removed, or exited (which the caller looks at again first). */
  observed: 'started' | 'removed' | 'exited' | null;
  /** Drift open before and not seen now: over. */
  resolved: DriftKind[];
}

type Seen = Pick<
  InstanceState,
  'desired' | 'observed' | 'containerId' | 'allocationHeld' | 'creationFailed' | 'drifts'
>;

/**
 * The drift rules, in one place: given what the instance wants and what Docker shows of it on its own
 * node, which drift is open (should run but exited; should be stopped but runs; its container gone),
 * what to record of the container, and which earlier drift is over. "Wrong node" is seen from the other
 * node's side (wrongNodeDrift) and settled by the sync as a whole, so it is never resolved here.
 */
export function findDrift(instance: Seen, seen: ContainerSeen): DriftFinding {
  const drift: DriftFinding['drift'] = [];
  let observed: DriftFinding['observed'] = null;
  switch (seen.state) {
    case 'absent':
      // Only a container the platform had made can go missing; a create still under way is not drift,
      // nor one the reconciler made since the list was taken.
      if (instance.containerId && !seen.recordedStillThere && instance.desired !== 'deleted') {
        if (instance.observed !== 'removed') observed = 'removed';
        drift.push({ kind: 'missing', detail: 'its container is gone' });
      }
      break;
    case 'changing':
      break; // look again next time
    case 'running':
      // With no container on record the reconciler is making or adopting it, and records its start
      // together with the container: recording the start here would put it before the container.
      if (instance.observed !== 'running' && instance.allocationHeld && instance.containerId)
        observed = 'started';
      if (instance.desired === 'stopped')
        drift.push({ kind: 'running', detail: 'should be stopped, but its container runs' });
      break;
    case 'stopped':
      if (instance.observed === 'running' || instance.observed === 'unknown') observed = 'exited';
      // A creation that failed is a failure, shown as such, not drift to heal.
      if (instance.desired === 'running' && !instance.creationFailed)
        drift.push({ kind: 'exited', detail: `should run, but its container ${seen.status || 'stopped'}` });
      break;
  }
  const now = new Set(drift.map((d) => d.kind));
  const resolved = instance.drifts.filter((k) => !now.has(k) && k !== 'wrong_node');
  return { drift, observed, resolved };
}

/**
 * A managed container found on a node other than its instance's: drift of that instance (its record
 * says another node), unless the instance is gone. Null when it is not this kind of drift.
 */
export function wrongNodeDrift(
  instance: (Pick<InstanceState, 'exists' | 'nodeId'> & Pick<InstanceState, 'desired' | 'observed'>) | null,
  seenOn: { nodeId: string; name: string },
): { kind: 'wrong_node'; detail: string } | null {
  if (!instance?.exists || instance.nodeId === seenOn.nodeId || instanceGone(instance)) return null;
  return { kind: 'wrong_node', detail: `a container of it runs on ${seenOn.name}` };
}

/**
 * Whether a managed container may be removed as an orphan: only when no live instance owns it. One
 * whose instance lives on another node may be that node's own container seen through a second
 * registration of the same engine, so it is only reported.
 */
export function orphanRemovable(
  instance: Pick<InstanceState, 'exists' | 'desired' | 'observed'> | null,
): boolean {
  return !(instance?.exists && !instanceGone(instance));
}
