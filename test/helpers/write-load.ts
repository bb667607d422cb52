// The write-load lives in src/demo/ so `ferry demo` and the tests share it.
export * from '../../src/demo/write-load.js';
