export * from './errors.js';
export * from './validation.js';
export * from './api.js';
export * from './signaling.js';
export * from './credentials.js';
