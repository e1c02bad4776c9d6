export * from './changes.js';
export * from './errors.js';
export * from './events.js';
export * from './fields.js';
export * from './parse.js';
