export * from './bench/load.js';
export * from './bench/proc.js';
export * from './bench/stand-in-docker.js';
export * from './bench.js';
export * from './databases.js';
export * from './postgres.js';
export * from './test-nodes.js';
export * from './throwaway-dockerd.js';
