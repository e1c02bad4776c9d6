export * from './name-claim.js';
