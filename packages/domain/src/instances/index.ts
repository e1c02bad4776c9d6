export * from './data-disk.js';
export * from './drift.js';
export * from './instance.js';
