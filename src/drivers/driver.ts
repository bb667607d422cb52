/**
 * The replication driver: the mode-specific part of replicate / converge / open-writes / fence /
 * promote. The steps call only this interface, so the embedded engine (src/drivers/engine.ts)
 * plugs in without touching them.
 *
 * Contract for an implementation:
 * - `describe(phase, pc)`: the commands the phase would send, for the plan (pure, no I/O).
 * - `start(ctx)`: begin replicating the source into the target. MUST be idempotent: the runner
 *   calls it again on resume whenever replicate is done and promote is not (an in-process replica,
 *   as the engine's, died with the previous ferry process and must be restarted from its checkpoint
 *   in `ctx.state.data`; native REPLICAOF to the same master is a no-op).
 * - `isReplicating(ctx)`: true when the target is fed from the source right now.
 * - `offsets(ctx, known?)`: the source's `master_repl_offset` and the offset the target has
 *   APPLIED; the fence step waits for them to be equal while the source is paused. With
 *   `known.masterOffset` the source is not asked (a source paused for every client, before 6.2,
 *   would not answer until the pause ends).
 * - `openWrites(ctx)`: let clients write to the target before promotion (native: replica-read-only no);
 *   remember whatever it changed in `ctx.state.data` so `closeWrites` can restore it.
 * - `assertWritesIntact(ctx)` (optional): called by the fence once the offsets meet; throws a
 *   StepError if writes made on the target since `openWrites` may have been lost (native: a full
 *   resync after the link dropped replaces the replica's dataset).
 * - `stop(ctx)`: promotion: the target stops following the source and is a master on its own.
 * - `close()`: release in-process resources when the run ends or fails (no server change).
 */
import type { StepContext, PlanContext, PlannedCommand } from '../steps/step.js';

/** The driver-specific phases of the migration. */
export type DriverPhase = 'replicate' | 'converge' | 'open-writes' | 'fence' | 'promote';

/**
 * Offsets read at one moment; replicaOffset is what the target has applied. With several links (a
 * cluster source: one per master) masterOffset is the sum of the masters' offsets and
 * replicaOffset the sum of each link's applied offset capped at its own master's, so
 * `replicaOffset >= masterOffset` holds exactly when EVERY link has caught up with its master;
 * `links` has each one.
 */
export interface ReplicationOffsets {
  masterOffset: number;
  replicaOffset: number;
  linkUp: boolean;
  /** Each link (engine, cluster source): its master (host:port) and that master's offsets. */
  links?: Array<{ master: string; masterOffset: number; replicaOffset: number; linkUp: boolean }>;
  /** A full sync (RDB transfer/load) is still running. */
  syncing?: boolean;
  /** Bytes of the initial sync received so far / expected (-1 when unknown). */
  syncBytes?: { done: number; total: number };
  /** Keys the initial sync has written to the target so far (engine only). */
  keysApplied?: number;
  /** Engine only: stream offset received from the source (replicaOffset is what the target confirmed). */
  receivedOffset?: number;
}

/** See the module comment for the contract. */
export interface ReplicationDriver {
  readonly mode: 'native' | 'engine';
  describe(phase: DriverPhase, pc: PlanContext): PlannedCommand[];
  start(ctx: StepContext): Promise<void>;
  isReplicating(ctx: StepContext): Promise<boolean>;
  offsets(ctx: StepContext, known?: { masterOffset?: number }): Promise<ReplicationOffsets>;
  openWrites(ctx: StepContext): Promise<void>;
  /** Reverts `openWrites` (rollback). */
  closeWrites(ctx: StepContext): Promise<void>;
  /** See the module comment. */
  assertWritesIntact?(ctx: StepContext): Promise<void>;
  /** Promotion. */
  stop(ctx: StepContext): Promise<void>;
  /** True once `stop` took effect (the target no longer follows the source). */
  isPromoted(ctx: StepContext): Promise<boolean>;
  /** Detaches the target from the source without promoting intent (rollback of replicate). */
  abort(ctx: StepContext): Promise<void>;
  close(): Promise<void>;
}
