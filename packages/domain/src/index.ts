export * from './scheduling/index.js';
