export * from './data-disk.js';
export * from './instance.js';
