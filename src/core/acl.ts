/**
 * ACL permissions in errors: a command the server refused with NOPERM becomes one line naming the
 * command and the ACL rule to add to the user (README "Least privilege" lists every rule per sync
 * mode and step).
 *
 * NOPERM texts (acl.c getAclErrorMessage, redis 7.2/7.4, valkey 8):
 *   "User u has no permissions to run the 'client|setname' command"
 *   "No permissions to access a key" / "No permissions to access a channel"
 * and redis 6.2: "this user has no permissions to run the 'dump' command or its subcommand",
 *   "this user has no permissions to access one of the keys used as arguments".
 */
import { UsageError } from './errors.js';

/** Commands whose permission is given per subcommand (`+client|setname`). */
const CONTAINERS = new Set(['client', 'config', 'memory', 'object', 'xinfo', 'xgroup', 'function', 'acl', 'command', 'script', 'cluster', 'slowlog', 'latency', 'module', 'pubsub']);

/** The ACL rule that allows `argv` (the command, not its keys): `+dump`, `+client|setname`. */
export function commandRule(argv: ReadonlyArray<string | number | Buffer>): string {
  const name = String(argv[0]).toLowerCase();
  if (CONTAINERS.has(name) && argv.length > 1) return `+${name}|${String(argv[1]).toLowerCase()}`;
  return `+${name}`;
}

/** The rule a NOPERM message asks for: the command's, or key/channel access. */
export function ruleForNoperm(argv: ReadonlyArray<string | number | Buffer>, message: string, readOnly = false): string {
  if (/access a key|access one of the keys/i.test(message)) return readOnly ? '%R~* (or ~*)' : '~*';
  if (/access a channel|access one of the channels/i.test(message)) return '&*';
  const named = /run the '([^']+)' command/i.exec(message)?.[1];
  return named ? `+${named.toLowerCase()}` : commandRule(argv);
}

/** The error for a NOPERM reply on `side` (exit 2: the user's ACL is input to fix). */
export function noPermissionError(side: 'source' | 'target', argv: ReadonlyArray<string | number | Buffer>, message: string, readOnly = false): UsageError {
  const flag = side === 'source' ? '--from' : '--to';
  const what = commandName(argv);
  const rule = ruleForNoperm(argv, message, readOnly);
  const said = `(the server said: ${message.split('\n')[0]})`;
  if (/access a key|access one of the keys/i.test(message)) return new UsageError(`the ${side} user may not read every key (${what} was refused): add the ACL rule ${rule} to the user of ${flag} ${said}`);
  return new UsageError(`the ${side} user may not run ${what}: add the ACL rule ${rule} to the user of ${flag} ${said}`);
}

/** `CLIENT SETNAME`, `DUMP`: the command as people write it. */
export function commandName(argv: ReadonlyArray<string | number | Buffer>): string {
  const name = String(argv[0]).toUpperCase();
  return CONTAINERS.has(name.toLowerCase()) && argv.length > 1 ? `${name} ${String(argv[1]).toUpperCase()}` : name;
}
