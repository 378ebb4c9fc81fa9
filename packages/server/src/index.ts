export { loadConfig, ConfigError, type ParleyConfig } from './config/config.js';
export { startServer, type RunningServer, type StartOptions } from './server.js';
export { ParleyError } from './errors.js';
export { verificationKeys } from './services/call-apps.js';
