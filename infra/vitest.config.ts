import { packageTestConfig } from './src/vitest/config.js';

export default packageTestConfig({ database: false });
