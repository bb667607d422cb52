/**
 * The migration spec: the one options object that flags, playbooks and the wizard all build,
 * and that the runner executes. It holds no secret when serialised (`publicSpec`).
 */
import type { BacklogPolicy } from './backlog.js';
import type { Endpoint, TlsOptions } from './endpoint.js';
import { toPublicUrl } from './endpoint.js';

export type SyncMode = 'engine' | 'native';
export type RetirePolicy = 'replica' | 'keep' | 'shutdown';
/** The cutover gate (`--verify`): compare source and target before any client moves. */
export type VerifyMode = 'off' | 'sample' | 'full';

/** `exec:'CMD'` runs a hook; `manual` waits for the operator; `none` skips repointing. */
export type RepointStrategy =
  | { kind: 'exec'; command: string; timeoutMs: number }
  | { kind: 'manual' }
  | { kind: 'none' };

/** `attach` uses an existing server; `start` makes ferry launch redis-server (detached). */
export type TargetSpec =
  | { kind: 'attach'; endpoint: Endpoint }
  | { kind: 'start'; port?: number; host: string; password?: string };

export interface MigrationSpec {
  from: Endpoint;
  to: TargetSpec;
  sync: SyncMode;
  repoint: RepointStrategy;
  retire: RetirePolicy;
  /** CLIENT PAUSE timeout for the fence step, ms (default 10 000). */
  pauseTimeoutMs: number;
  /** How long the drain after repointing waits for clients to leave the old master, ms. */
  drainTimeoutMs: number;
  /** Replication lag (bytes) under which converge is done. */
  convergeMaxLagBytes: number;
  /** Where `--to start` puts config, data, log and pid file. */
  dataDir?: string;
  /** Extra redis-server config for `--to start`, each "name value". */
  serverArgs: string[];
  /** Accept that a full sync wipes a non-empty target. */
  flushTarget: boolean;
  /** The source's repl-backlog-size for the migration (`--backlog`, see core/backlog.ts). */
  backlog: BacklogPolicy;
  tls?: TlsOptions;
  /**
   * The cutover gate after converge (`--verify`, default sample) and the final check after
   * promote. Absent in state files written before the gate existed: those runs go on without it.
   */
  verify?: VerifyMode;
  /** Keys drawn per db by `--verify sample` and by the final check (default 10,000). */
  verifySample?: number;
  /** Engine filters (issue 4). */
  include?: string[];
  exclude?: string[];
  dbMap?: Record<number, number>;
  /** Engine only: copy hash fields without their TTL into a target without field TTLs (issue 11). */
  dropFieldTtl?: boolean;
}

export const DEFAULTS = {
  sync: 'engine' as SyncMode,
  retire: 'replica' as RetirePolicy,
  pauseTimeoutMs: 10_000,
  drainTimeoutMs: 30_000,
  hookTimeoutMs: 120_000,
  convergeMaxLagBytes: 0,
  verify: 'sample' as VerifyMode,
  verifySample: 10_000,
  backlog: { kind: 'auto' } as BacklogPolicy,
};

/** The spec as it may be stored or printed: URLs without passwords. */
export function publicSpec(spec: MigrationSpec): Record<string, unknown> {
  const to =
    spec.to.kind === 'attach'
      ? { kind: 'attach', url: toPublicUrl(spec.to.endpoint) }
      : { kind: 'start', host: spec.to.host, port: spec.to.port };
  const { from: _from, to: _to, ...rest } = spec;
  return { ...rest, from: toPublicUrl(spec.from), to };
}
