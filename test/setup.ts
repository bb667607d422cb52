/**
 * Loaded before every test file (vitest setupFiles): a background load still running when a test
 * ends, passed or failed, is stopped here, so it cannot write into the next test or keep the
 * worker alive.
 */
import { afterAll, afterEach } from 'vitest';
import { stopAllLoads } from './helpers/loads.js';

afterEach(async () => {
  await stopAllLoads();
});
afterAll(async () => {
  await stopAllLoads();
});
