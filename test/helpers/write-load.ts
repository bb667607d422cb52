// The write-load lives in src/demo/ so `ferry demo` and the tests share it; in tests it is
// registered as a background load (helpers/loads.ts): stopped after its test, a dead one fails waits.
import { startWriteLoad as startDemoLoad, type WriteLoad, type WriteLoadOptions } from '../../src/demo/write-load.js';
import { trackLoad, untrackLoad } from './loads.js';

export { missingKeys, pointMasterFile, type WriteLoad, type WriteLoadOptions, type WriteLoadReport } from '../../src/demo/write-load.js';

export function startWriteLoad(opts: WriteLoadOptions): WriteLoad {
  const load = startDemoLoad(opts);
  const tracked = {
    name: `write-load ${opts.prefix ?? 'load'}`,
    get error() {
      return load.error ? new Error(load.error) : null;
    },
    halt: async () => {
      await load.stop();
    },
  };
  trackLoad(tracked);
  return {
    ackedCount: () => load.ackedCount(),
    takeLongestGap: () => load.takeLongestGap(),
    get error() {
      return load.error;
    },
    async stop() {
      untrackLoad(tracked);
      return load.stop();
    },
  };
}
