/**
 * Steps are data (STYLE.md #3): `describe` says what a step would send (the plan), `check` says
 * whether it is already done (what makes resume idempotent), `run` does it, `undo` reverts it
 * where that is possible. The runner walks them in order and persists the state between them.
 */
import type { Redis } from 'ioredis';
import type { Endpoint } from '../core/endpoint.js';
import type { EventBus } from '../core/events.js';
import type { Facts } from '../core/facts.js';
import type { MigrationSpec } from '../core/spec.js';
import type { RunState } from '../core/state.js';
import type { ReplicationDriver } from '../drivers/driver.js';

/** Step ids in the documented order. */
export const STEP_IDS = ['preflight', 'provision', 'backlog', 'replicate', 'converge', 'verify', 'open-writes', 'repoint', 'sentinel-prepare', 'fence', 'sentinel', 'promote', 'final-check', 'reparent', 'retire'] as const;
export type StepId = (typeof STEP_IDS)[number];

/** Steps that exist only for a master behind Sentinel (`--from sentinel://…`). */
const SENTINEL_STEPS: readonly StepId[] = ['sentinel-prepare', 'sentinel'];

/** The steps a migration of `spec` walks (and its plan and state file show), in order. */
export function stepIdsFor(spec: { from: { sentinel?: unknown } }): StepId[] {
  return STEP_IDS.filter((id) => !!spec.from.sentinel || !SENTINEL_STEPS.includes(id));
}

/** One command a step would send: to which server, what (secrets shown as <redacted>), and why. */
export interface PlannedCommand {
  /** 'source' | 'target' | 'local' (a process on this machine) | 'replica host:port'. */
  on: string;
  command: string;
  note?: string;
}

/** What `describe` may look at: the spec and the facts, nothing live (plans are pure). */
export interface PlanContext {
  spec: MigrationSpec;
  facts: Facts;
  /** The target's address (port 0 when ferry will pick a free one at run time). */
  target: Endpoint;
  driver: ReplicationDriver;
}

/** Reports progress of a long step (converge bytes, drain clients). Rate-limited by sinks. */
export type Progress = (p: { phase: string; done?: number; total?: number; unit?: string; detail?: Record<string, unknown> }) => void;

/** What a running step gets. Connections are opened lazily and closed by the runner. */
export interface StepContext extends PlanContext {
  state: RunState;
  /** Where the state is saved (for messages naming `ferry resume --state FILE`). */
  statePath: string;
  bus: EventBus;
  signal: AbortSignal;
  yes: boolean;
  /** Asks the operator (only called when `yes` is false). */
  confirm(question: string): Promise<boolean>;
  /** A connected client to the old master (reconnects if the last one dropped). */
  sourceClient(): Promise<Redis>;
  /**
   * The source masters now, each with a connected client (core/source-nodes.ts): the old master
   * alone for a single source, every master with slots for a Redis Cluster source.
   */
  sourceMasters(): Promise<Array<{ addr: string; client: Redis }>>;
  /** A connected client to one node of the source (`host:port`; the `--from` node is sourceClient). */
  sourceNode(addr: string): Promise<Redis>;
  /** A connected client to the new instance (after provision). */
  targetClient(): Promise<Redis>;
  /** Persists the state file now (e.g. before a risky command). */
  save(): Promise<void>;
  warn(message: string): void;
  info(message: string): void;
}

/** A step of the migration. */
export interface Step {
  id: StepId;
  title: string;
  /** The commands this step would send, for the plan. Pure. */
  describe(pc: PlanContext): PlannedCommand[];
  /** True when the step's effect is already in place (resume skips it). Read-only. */
  check(ctx: StepContext): Promise<boolean>;
  /** Does the step; returns figures worth reporting (they go into step.done and the state). */
  run(ctx: StepContext, progress: Progress): Promise<Record<string, unknown> | void>;
  /** Reverts the step where possible (rollback path). */
  undo?(ctx: StepContext): Promise<void>;
}

/** Formats a command for the plan. Pass SECRET where a password goes. */
export function cmd(on: string, argv: Array<string | number | typeof SECRET>, note?: string): PlannedCommand {
  const command = argv.map((a) => (a === SECRET ? '<redacted>' : String(a))).join(' ');
  return note ? { on, command, note } : { on, command };
}

/** Marker for a secret argument in `cmd`. */
export const SECRET = Symbol('secret');

/** Sleeps `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
