export * from './config/load.js';
export * from './config/schema.js';
export * from './database/connect.js';
export * from './platform.js';
