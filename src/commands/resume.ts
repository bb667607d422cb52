/** `ferry resume --state F`: continues a stopped run where it stopped. */
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('resume')
    .description('continue a stopped or failed run from its state file (passwords from FERRY_FROM_PASSWORD / FERRY_TO_PASSWORD)')
    .requiredOption('--state <file>', 'the state file of the run')
    .option('--yes', 'answer every confirmation with yes (needed without a terminal)')
    .option('--json', 'one JSON event per line on stdout')
    .action(async (flags: { state: string; yes?: boolean; json?: boolean }) => {
      const { loadState, specFromState } = await import('../core/state.js');
      const { executeRun } = await import('./execute-run.js');
      const spec = specFromState(loadState(flags.state));
      await executeRun(spec, { statePath: flags.state, yes: !!flags.yes, json: !!flags.json, resume: true });
    });
}
