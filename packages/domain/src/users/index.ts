export * from './ssh-keys.js';
export * from './user.js';
