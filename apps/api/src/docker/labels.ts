/**
 * How Tianqi marks what it makes on a node: labels on its containers (which instance, which
 * installation and node made them) and the names of their data volumes. The sync, the reconciler and
 * the orphan sweep find their own containers by these and leave everything else alone.
 */
export const LABEL_INSTANCE = 'tianqi.instance';
export const LABEL_MANAGED_BY = 'tianqi.managed-by';
export const LABEL_INSTALLATION = 'tianqi.installation';
export const LABEL_NODE = 'tianqi.node';
export const MANAGED_BY = 'tianqi';

/** The named volume an instance keeps its `/data` in. */
export const dataVolume = (instanceId: string) => `tianqi-${instanceId}-data`;
