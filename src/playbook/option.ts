/** The `--playbook` option (kept apart from the loader so `--help` does not load yaml and zod). */
import type { Command } from 'commander';

/** Adds `--playbook FILE` to a command. */
export function addPlaybookOption(cmd: Command): Command {
  return cmd.option('--playbook <file>', 'read the migration settings from a YAML playbook (flags given here override it)');
}
