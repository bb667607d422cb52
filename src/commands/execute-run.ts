/** Runs a migration with the terminal's output, signals and confirmations (run and resume). */
import { EventBus } from '../core/events.js';
import { runMigration, type RunReport } from '../core/runner.js';
import type { MigrationSpec } from '../core/spec.js';
import { createSinks } from '../ui/sinks.js';
import { abortOnSignals, confirmer } from './common.js';

export interface ExecuteOptions {
  statePath?: string;
  yes: boolean;
  json: boolean;
  resume?: boolean;
}

/** Wires sinks, SIGINT/SIGTERM and the prompt around `runMigration`. */
export async function executeRun(spec: MigrationSpec, o: ExecuteOptions): Promise<RunReport> {
  // Ctrl-C at a prompt stops the run as SIGINT does.
  const ask = confirmer(o.yes, () => signals.interrupt());
  const bus = new EventBus();
  const detach = createSinks(bus, { json: o.json });
  const confirm = ask && ((q: string) => detach.hold(() => ask(q)));
  const signals = abortOnSignals();
  try {
    return await runMigration(spec, { statePath: o.statePath, yes: o.yes, bus, signal: signals.signal, confirm, resume: o.resume });
  } finally {
    signals.dispose();
    detach();
  }
}
