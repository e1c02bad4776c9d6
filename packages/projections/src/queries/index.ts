export * from './audit.js';
export * from './catalog.js';
export * from './fleet.js';
export * from './instances.js';
export * from './paging.js';
export * from './shell-targets.js';
export * from './sign-ins.js';
export * from './usage.js';
