import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests start real redis-server processes: keep parallelism modest on a 2-core machine.
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    teardownTimeout: 20_000,
    setupFiles: ['test/setup.ts'],
    reporters: ['default', './test/running-reporter.ts'],
  },
});
