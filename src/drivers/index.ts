/** Picks the replication driver for `--sync` (loaded lazily: the engine is heavy). */
import { UsageError } from '../core/errors.js';
import type { SyncMode } from '../core/spec.js';
import type { ReplicationDriver } from './driver.js';

/** The driver for a sync mode; 'engine' is a usage error until the embedded engine lands. */
export async function driverFor(mode: SyncMode): Promise<ReplicationDriver> {
  if (mode === 'native') return new (await import('./native.js')).NativeDriver();
  throw new UsageError('the embedded engine is not available yet; use --sync native');
}
