/**
 * `--playbook F`: the playbook's values fill in every flag the command line did not set, so flags
 * override the playbook and both go through the same spec builder (specFromFlags).
 */
import type { Command } from 'commander';
import { loadPlaybook } from './load.js';

/**
 * Returns `flags` completed from the playbook named by `flags.playbook` (if any). A flag counts as
 * set when commander says its value came from the command line (or env), not from a default.
 */
export function withPlaybook<F extends { playbook?: string }>(flags: F, command: Command, warn: (m: string) => void = (m) => process.stderr.write(`ferry: warning: ${m}\n`)): F {
  if (!flags.playbook) return flags;
  const book = loadPlaybook(flags.playbook);
  for (const w of book.warnings) warn(w);
  const merged: Record<string, unknown> = { ...flags };
  for (const [key, value] of Object.entries(book.flags)) {
    const source = command.getOptionValueSource(key);
    if (source === 'cli' || source === 'env') continue;
    merged[key] = value;
  }
  return merged as F;
}
