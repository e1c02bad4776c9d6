export * from './bench.js';
export * from './databases.js';
export * from './postgres.js';
export * from './test-nodes.js';
export * from './throwaway-dockerd.js';
