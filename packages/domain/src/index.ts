export * from './instances/index.js';
export * from './scheduling/index.js';
