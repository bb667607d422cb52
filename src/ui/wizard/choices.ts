/** The wizard's choices: the words an operator reads, kept apart from the flow in Wizard.tsx. */
import type { Choice } from './inputs.js';

/** Where the data goes. */
export const TARGET_CHOICES: Array<Choice<'start' | 'attach'>> = [
  { value: 'start', label: 'Start a new local redis-server', hint: '(ferry launches it, detached)' },
  { value: 'attach', label: 'Attach to a running server by URL' },
];

/** `--sync`. */
export const SYNC_CHOICES: Array<Choice<'native' | 'engine'>> = [
  { value: 'native', label: 'native', hint: '(REPLICAOF on the target: Redis replicates itself)' },
  { value: 'engine', label: 'engine', hint: "(ferry's embedded replica: for targets that cannot replicate)" },
];

/** `--repoint` (exec asks for the command next). */
export const REPOINT_CHOICES: Array<Choice<'manual' | 'exec' | 'none'>> = [
  { value: 'manual', label: 'manual', hint: '(I repoint them; show me who is still connected)' },
  { value: 'exec', label: 'a hook command', hint: '(gets FERRY_NEW_HOST/PORT, FERRY_OLD_HOST/PORT)' },
  { value: 'none', label: 'none', hint: '(no clients to move)' },
];

/** `--repoint` for a sentinel:// source: Sentinel moves the clients at the cutover. */
export const SENTINEL_REPOINT_CHOICES: Array<Choice<'none' | 'manual' | 'exec'>> = [
  { value: 'none', label: 'through Sentinel', hint: '(ferry repoints every Sentinel at the cutover; Sentinel-aware clients follow)' },
  { value: 'manual', label: 'manual as well', hint: '(some clients do not ask Sentinel; show me who is still connected)' },
  { value: 'exec', label: 'a hook command as well', hint: '(gets FERRY_NEW_HOST/PORT, FERRY_OLD_HOST/PORT)' },
];

/** `--retire`. */
export const RETIRE_CHOICES: Array<Choice<'replica' | 'keep' | 'shutdown'>> = [
  { value: 'replica', label: 'replica', hint: '(become a replica of the new one: rollback path, late writes fail loudly)' },
  { value: 'keep', label: 'keep', hint: '(stay as it is: late writes to it are lost)' },
  { value: 'shutdown', label: 'shutdown', hint: '(SHUTDOWN once the cutover is done)' },
];
