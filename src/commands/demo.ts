/** `ferry demo`: a live migration under load between two throwaway local servers, with a report. */
import type { Command } from 'commander';
import { DEFAULTS } from '../core/spec.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('live migration under load between two throwaway local redis-servers, then a cutover report (exit 0 only when no acknowledged write was lost)')
    .option('--keys <n>', 'sample keys loaded before the migration', '20000')
    .option('--lanes <n>', 'concurrent writer connections during the migration', '4')
    .option('--sync <mode>', 'engine (the embedded replica) or native (REPLICAOF)', DEFAULTS.sync)
    .option('--json', 'one JSON event per line on stdout, ending with the cutover report as data')
    .action(async (flags: { keys: string; lanes: string; sync: string; json?: boolean }) => {
      const { runDemoCommand } = await import('../demo/demo-command.js');
      await runDemoCommand(flags);
    });
}
