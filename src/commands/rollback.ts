/** `ferry rollback --state F`: undoes a run that has not promoted the new instance yet. */
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('rollback')
    .description('undo a run that stopped before promotion: unpause the old master, restore the target (replica-read-only, REPLICAOF NO ONE)')
    .requiredOption('--state <file>', 'the state file of the run')
    .option('--yes', 'answer every confirmation with yes (needed without a terminal)')
    .option('--json', 'one JSON event per line on stdout')
    .action(async (flags: { state: string; yes?: boolean; json?: boolean }) => {
      const { loadState, specFromState } = await import('../core/state.js');
      const { UsageError } = await import('../core/errors.js');
      const { EventBus } = await import('../core/events.js');
      const { rollbackMigration } = await import('../core/runner.js');
      const { createSinks } = await import('../ui/sinks.js');
      const { abortOnSignals, confirmer } = await import('./common.js');
      // NOTE: the state file first: a wrong --state is the error to report, not the missing --yes.
      const spec = specFromState(loadState(flags.state));
      const confirm = confirmer(!!flags.yes);
      if (confirm && !(await confirm(`Roll back the run in ${flags.state}?`))) throw new UsageError('not confirmed; nothing was changed');
      const bus = new EventBus();
      const detach = createSinks(bus, { json: !!flags.json });
      const signals = abortOnSignals();
      try {
        await rollbackMigration(spec, { statePath: flags.state, yes: !!flags.yes, bus, signal: signals.signal });
      } finally {
        signals.dispose();
        detach();
      }
    });
}
