/**
 * The servers of the version matrix: Debian's redis-server 7.0 on PATH plus the builds in
 * ../shared/redis-servers (README there: redis 5.0.14, 6.2.16, 7.2.6, 7.4.1, valkey 8.0.1). Tests
 * that use them skip when the folder is absent (a user's clone has no ../shared).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.js';
import { startRedis, type StartOptions, type TestServer } from './redis-server.js';

export const SERVERS_DIR = join(ROOT, '..', 'shared', 'redis-servers');

/** One server version of the matrix. */
export interface ServerVersion {
  /** Short name used in test titles: '5.0', '6.2', '7.0', '7.2', '7.4', 'valkey8.0'. */
  name: string;
  /** Binary to run (undefined: redis-server on PATH). */
  bin?: string;
  /** major*100+minor of the Redis version it implements (valkey 8.0 reports redis_version 7.2.4). */
  redis: number;
  valkey: boolean;
  /** RDB version it writes (REPLICATION-FACTS B). */
  rdb: number;
  /** Knows --enable-debug-command (7.0+; DEBUG is always on before). */
  debugFlag: boolean;
}

const shared = (dir: string, file = 'redis-server'): string => join(SERVERS_DIR, dir, file);

export const VERSIONS: Record<string, ServerVersion> = {
  '5.0': { name: '5.0', bin: shared('redis-5.0.14'), redis: 500, valkey: false, rdb: 9, debugFlag: false },
  '6.2': { name: '6.2', bin: shared('redis-6.2.16'), redis: 602, valkey: false, rdb: 9, debugFlag: false },
  '7.0': { name: '7.0', redis: 700, valkey: false, rdb: 10, debugFlag: true },
  '7.2': { name: '7.2', bin: shared('redis-7.2.6'), redis: 702, valkey: false, rdb: 11, debugFlag: true },
  '7.4': { name: '7.4', bin: shared('redis-7.4.1'), redis: 704, valkey: false, rdb: 12, debugFlag: true },
  'valkey8.0': { name: 'valkey8.0', bin: shared('valkey-8.0.1', 'valkey-server'), redis: 702, valkey: true, rdb: 11, debugFlag: true },
};

export const MATRIX_SOURCES = ['5.0', '6.2', '7.0', '7.2', '7.4', 'valkey8.0'].map((n) => VERSIONS[n]);
export const MATRIX_TARGETS = ['6.2', '7.0', '7.2', '7.4', 'valkey8.0'].map((n) => VERSIONS[n]);

/** True when every binary of the matrix is present. */
export const HAVE_VERSIONS = Object.values(VERSIONS).every((v) => !v.bin || existsSync(v.bin));

/** Starts a server of version `v` (DEBUG enabled on every version). */
export async function startVersion(v: ServerVersion, opts: StartOptions = {}): Promise<TestServer> {
  const debug = v.debugFlag ? ['--enable-debug-command', 'yes'] : [];
  return startRedis({ ...opts, bin: v.bin, args: [...debug, ...(opts.args ?? [])] });
}
