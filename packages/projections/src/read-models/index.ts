import type { Projection } from '../projection.js';
import { auditLogProjection } from './audit-log.js';
import { imagesProjection, specsProjection } from './catalog.js';
import { driftProjection } from './drift.js';
import { instancesProjection } from './instances.js';
import { nodesProjection } from './nodes.js';
import { usageProjection } from './usage.js';
import { usersProjection } from './users.js';

export * from './audit-log.js';
export * from './catalog.js';
export * from './drift.js';
export * from './instances.js';
export * from './nodes.js';
export * from './usage.js';
export * from './users.js';

/** Every read model of the platform. */
export const allProjections: readonly Projection[] = [
  usersProjection,
  imagesProjection,
  specsProjection,
  nodesProjection,
  instancesProjection,
  auditLogProjection,
  usageProjection,
  driftProjection,
];
