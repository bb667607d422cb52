/**
 * What the wizard needs from the rest of ferry, passed in so the components stay testable:
 * probing a server, building the plan text, and running the migration (the same runner as
 * `ferry run`). `deps.ts` wires the real implementations.
 */
import type { EventBus } from '../../core/events.js';
import type { MigrationFlags } from '../../core/spec-from-flags.js';
import type { MigrationSpec } from '../../core/spec.js';

/** What the wizard shows about a server it was given (read-only INFO). */
export interface ServerSummary {
  version: string;
  role: string;
  keys: number;
  usedMemory: number;
  connectedClients: number;
  /** For a sentinel:// URL: how the master was found, e.g. "Sentinel mymaster (3 Sentinels) → 10.0.0.5:6379". */
  via?: string;
}

export interface WizardDeps {
  /** Connects and reads a summary; throws a FerryError with a one-line message. */
  probe(url: string, which: '--from' | '--to'): Promise<ServerSummary>;
  /** The same builder the flags use. */
  buildSpec(flags: MigrationFlags): MigrationSpec;
  /** The plan, rendered as `ferry plan` prints it, and the first refusal if preflight refuses. */
  plan(spec: MigrationSpec): Promise<{ text: string; refusal?: string }>;
  /** Runs the migration (events on `bus`); resolves when done, throws a FerryError otherwise. */
  run(spec: MigrationSpec, opts: { bus: EventBus; signal: AbortSignal; confirm(question: string): Promise<boolean> }): Promise<void>;
  /** Suggests a free port for `--to start`. */
  freePort(): Promise<number>;
}
