/** `ferry status --state F`: what a run has done so far. */
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('status')
    .description('show the steps, target and cutover figures recorded in a state file')
    .requiredOption('--state <file>', 'the state file of the run')
    .option('--json', 'print the state as one JSON document')
    .action(async (flags: { state: string; json?: boolean }) => {
      const { loadState } = await import('../core/state.js');
      const { formatStatus } = await import('../ui/format-status.js');
      const state = loadState(flags.state);
      process.stdout.write(flags.json ? `${JSON.stringify(state, null, 2)}\n` : formatStatus(state, flags.state));
    });
}
