export * from './docker-address.js';
export * from './node.js';
