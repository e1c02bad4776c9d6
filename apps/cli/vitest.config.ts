import { packageTestConfig } from '../../infra/src/vitest/config.js';

export default packageTestConfig({ database: false });
