export * from './gpu-allocation.js';
export * from './match-nodes.js';
export * from './schemas.js';
export * from './spec-offer.js';
export * from './types.js';
