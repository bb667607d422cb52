/** Picks the replication driver for `--sync` (loaded lazily: the engine is heavy). */
import { UsageError } from '../core/errors.js';
import type { SyncMode } from '../core/spec.js';
import type { ReplicationDriver } from './driver.js';

/** The driver for a sync mode. */
export async function driverFor(mode: SyncMode): Promise<ReplicationDriver> {
  if (mode === 'native') return new (await import('./native.js')).NativeDriver();
  if (mode === 'engine') return new (await import('./engine.js')).EngineDriver();
  throw new UsageError(`--sync "${mode}" must be engine or native`);
}
