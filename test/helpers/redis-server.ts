// Local redis-server processes live in src/demo/ so `ferry demo` and the tests share them.
export * from '../../src/demo/redis-process.js';
export type { LocalRedis as TestServer } from '../../src/demo/redis-process.js';
