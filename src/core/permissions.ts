/**
 * Least privilege: the ACL rules the source user and the target user need, per sync mode and step
 * (README "Least privilege" is this table in words), and the preflight probes that find a missing
 * one before anything changes.
 *
 * A probe must be refused by the ACL check if the rule is missing and change nothing if it is not.
 * Redis checks the ACL after the command's name and arity and before running it (redis 7.2
 * src/server.c processCommand: commandCheckExistence, commandCheckArity, then ACLCheckAllPerm), so:
 * - a command with a value the server rejects when it runs it: `CLIENT PAUSE ferry-acl-probe WRITE`
 *   (timeout is not an integer), `REPLICAOF 127.0.0.1 ferry-acl-probe` (port), `CONFIG SET
 *   replica-read-only ferry-acl-probe`, `CLIENT KILL TYPE ferry-acl-probe`, `FLUSHALL ferry-acl-probe`,
 *   `SHUTDOWN ferry-acl-probe` (syntax errors: 6.2 and 7.2 src/db.c), `REPLCONF ferry-acl-probe x`,
 *   `PSYNC ? -1 FAILOVER` (a master answers "PSYNC FAILOVER can't be sent to a master": 6.2+
 *   src/replication.c syncCommand);
 * - reads of a key that does not exist (`DUMP`, `HSCAN`, …);
 * - on an engine target, where MULTI is needed anyway, the write commands queued inside
 *   MULTI … DISCARD: the ACL check happens when a command is queued, DISCARD runs none of them.
 * `CLIENT UNPAUSE` takes no argument, so it cannot be probed: it is listed next to CLIENT PAUSE.
 * Servers without ACL users (redis < 6.0) are not probed.
 */
import type { Redis } from 'ioredis';
import { commandRule } from './acl.js';
import { ferryClientName } from './connect.js';
import type { MigrationSpec } from './spec.js';

export type Side = 'source' | 'target';

/** One rule a user needs: which side, which step(s), the rule, and how preflight checks it. */
export interface Permission {
  side: Side;
  steps: string;
  /** The ACL rule (`+client|pause`). */
  rule: string;
  /** Probe argv; `queued` probes go inside MULTI … DISCARD. Absent: cannot be probed. */
  probe?: string[];
  queued?: boolean;
  /** Covered by another rule of the list (`+@write`): probed, not listed. */
  probeOnly?: boolean;
  /** Another way out, for the refusal ("or run with --backlog keep"). */
  instead?: string;
}

const KEY = '__ferry:acl-probe';
const P = 'ferry-acl-probe';

/** The reads `ferry verify` (and the gate, and the final check) make on either side. */
export const VERIFY_READS: ReadonlyArray<[string, string[]]> = [
  ['+scan', ['SCAN', '0', 'COUNT', '1']],
  ['+randomkey', ['RANDOMKEY']],
  ['+exists', ['EXISTS', KEY]],
  ['+mget', ['MGET', KEY]],
  ['+pttl', ['PTTL', KEY]],
  ['+memory|usage', ['MEMORY', 'USAGE', KEY]],
  ['+dump', ['DUMP', KEY]],
  ['+type', ['TYPE', KEY]],
  ['+strlen', ['STRLEN', KEY]],
  ['+getrange', ['GETRANGE', KEY, '0', '1']],
  ['+llen', ['LLEN', KEY]],
  ['+lrange', ['LRANGE', KEY, '0', '1']],
  ['+hlen', ['HLEN', KEY]],
  ['+hscan', ['HSCAN', KEY, '0']],
  ['+hmget', ['HMGET', KEY, 'f']],
  ['+scard', ['SCARD', KEY]],
  ['+sscan', ['SSCAN', KEY, '0']],
  ['+smismember', ['SMISMEMBER', KEY, 'm']],
  ['+sismember', ['SISMEMBER', KEY, 'm']],
  ['+zcard', ['ZCARD', KEY]],
  ['+zscan', ['ZSCAN', KEY, '0']],
  ['+zmscore', ['ZMSCORE', KEY, 'm']],
  ['+zscore', ['ZSCORE', KEY, 'm']],
  ['+xlen', ['XLEN', KEY]],
  ['+xrange', ['XRANGE', KEY, '-', '+', 'COUNT', '1']],
  ['+xinfo|stream', ['XINFO', 'STREAM', KEY]],
  ['+xinfo|groups', ['XINFO', 'GROUPS', KEY]],
  ['+xinfo|consumers', ['XINFO', 'CONSUMERS', KEY, 'g']],
  ['+xpending', ['XPENDING', KEY, 'g', '-', '+', '1']],
];

/** Every connection: the client name, INFO (ioredis' ready check, the offsets), SELECT, PING. */
const BASE: ReadonlyArray<[string, string[]]> = [
  // NOTE: the probe renames the connection it runs on (the run's own): the name must still read as
  // ferry's (isFerryClientName), or the drain waits for ferry's own connection to leave.
  ['+client|setname', ['CLIENT', 'SETNAME', ferryClientName('aclprobe')]],
  ['+info', ['INFO', 'server']],
  ['+select', ['SELECT', '0']],
  ['+ping', ['PING']],
];

/**
 * What the engine sends the target itself: GET/SET/DEL of the checkpoint key, MULTI/EXEC around the
 * stream batches, FLUSHALL before a full sync into a target it owns, and the full-sync writers
 * (RESTORE, or the type commands for an older target). The stream replays the application's own
 * writes: `+@write` covers them (and all of these writes).
 */
const ENGINE_TARGET: ReadonlyArray<[string, string[]]> = [
  ['+exec', ['EXEC']],
  ['+discard', ['DISCARD']],
  ['+get', ['GET', KEY]],
  ['+multi', []],
];
const ENGINE_TARGET_WRITES: ReadonlyArray<[string, string[]]> = [
  ['+@write', []],
  ['+set', ['SET', KEY, 'x']],
  ['+del', ['DEL', KEY]],
  ['+flushall', ['FLUSHALL', 'ASYNC']],
  ['+restore', ['RESTORE', KEY, '0', 'x', 'ABSTTL']],
  ['+mset', ['MSET', KEY, 'x']],
  ['+append', ['APPEND', KEY, 'x']],
  ['+rpush', ['RPUSH', KEY, 'x']],
  ['+sadd', ['SADD', KEY, 'x']],
  ['+zadd', ['ZADD', KEY, '1', 'x']],
  ['+hset', ['HSET', KEY, 'f', 'v']],
  ['+xadd', ['XADD', KEY, '1-1', 'f', 'v']],
  ['+xdel', ['XDEL', KEY, '1-1']],
  ['+xsetid', ['XSETID', KEY, '1-1']],
  ['+xgroup|create', ['XGROUP', 'CREATE', KEY, 'g', '0']],
  ['+xgroup|createconsumer', ['XGROUP', 'CREATECONSUMER', KEY, 'g', 'c']],
  ['+xclaim', ['XCLAIM', KEY, 'g', 'c', '0', '1-1']],
  ['+pexpireat', ['PEXPIREAT', KEY, '1']],
  ['+function|load', ['FUNCTION', 'LOAD', 'x']],
];

/** The rules for a run of `spec` (and `ferry verify` with `verifyOnly`). */
export function requiredPermissions(spec: Pick<MigrationSpec, 'sync' | 'retire' | 'verify' | 'flushTarget' | 'from'> & { backlog?: MigrationSpec['backlog'] }): Permission[] {
  const out: Permission[] = [];
  const add = (side: Side, steps: string, list: ReadonlyArray<[string, string[]]>, opts: { queued?: boolean } = {}) => {
    for (const [rule, probe] of list) {
      out.push({ side, steps, rule, ...(probe.length ? { probe } : {}), ...(opts.queued && probe.length ? { queued: true, probeOnly: true } : {}) });
    }
  };
  add('source', 'all', BASE);
  add('target', 'all', BASE);
  // Optional (not probed): without CONFIG GET preflight cannot check backlog and buffer sizes and says so.
  add('source', 'preflight, optional', [['+config|get', []]]);
  add('target', 'preflight, optional', [['+config|get', []]]);
  // backlog: `--backlog auto` (default) only warns when CONFIG SET is refused; a SIZE needs it.
  const kind = spec.backlog?.kind ?? 'keep';
  if (kind !== 'keep') {
    add('source', kind === 'auto' ? 'backlog, optional with --backlog auto' : 'backlog, --backlog SIZE', [['+config|get', ['CONFIG', 'GET', 'repl-backlog-size']], ['+config|set', kind === 'size' ? ['CONFIG', 'SET', 'repl-backlog-size', P] : []]]);
    if (kind === 'size') out.at(-1)!.instead = 'run with --backlog keep';
  }
  if (spec.sync === 'engine') {
    add('source', 'replicate: ferry is the replica', [['+psync', ['PSYNC', '?', '-1', 'FAILOVER']], ['+replconf', ['REPLCONF', P, 'x']]]);
    const steps = 'replicate to promote: full sync, stream batches, checkpoint key';
    add('target', steps, ENGINE_TARGET);
    add('target', steps, ENGINE_TARGET_WRITES, { queued: true });
  } else {
    add('source', 'replicate: the target replicates as this user', [['+psync', ['PSYNC', '?', '-1', 'FAILOVER']], ['+replconf', ['REPLCONF', P, 'x']]]);
    add('target', 'replicate, open-writes, promote', [
      ['+config|set', ['CONFIG', 'SET', 'replica-read-only', P]],
      ['+config|get', ['CONFIG', 'GET', 'replica-read-only']],
      ['+replicaof', ['REPLICAOF', '127.0.0.1', P]],
      ['+client|list', ['CLIENT', 'LIST', 'TYPE', 'master']],
    ]);
    if (spec.flushTarget) add('target', 'replicate, --flush-target', [['+flushall', ['FLUSHALL', P]]]);
  }
  if (spec.verify && spec.verify !== 'off') {
    add('source', 'verify, final-check', VERIFY_READS);
    add('target', 'verify, final-check', VERIFY_READS);
  }
  add('source', 'repoint: the drain', [['+client|list', ['CLIENT', 'LIST', 'TYPE', 'normal']]]);
  add('source', 'fence', [['+client|pause', ['CLIENT', 'PAUSE', P, 'WRITE']], ['+client|unpause', []]]);
  if (spec.retire === 'replica') {
    add('source', 'retire replica', [
      ['+replicaof', ['REPLICAOF', '127.0.0.1', P]],
      ['+client|kill', ['CLIENT', 'KILL', 'TYPE', P]],
      ['+config|set', ['CONFIG', 'SET', 'replica-read-only', P]],
    ]);
    add('target', 'retire replica: the old master replicates as this user', [['+psync', ['PSYNC', '?', '-1', 'FAILOVER']], ['+replconf', ['REPLCONF', P, 'x']]]);
  }
  if (spec.retire === 'shutdown') add('source', 'retire shutdown', [['+shutdown', ['SHUTDOWN', P]]]);
  return dedupe(out);
}

/** The rules of `ferry verify` (the same on both sides: it only reads). */
export function verifyPermissions(): Permission[] {
  const out: Permission[] = [];
  for (const side of ['source', 'target'] as const) {
    for (const [rule, probe] of BASE) out.push({ side, steps: 'verify', rule, probe });
    for (const [rule, probe] of VERIFY_READS) out.push({ side, steps: 'verify', rule, probe });
  }
  return out;
}

/** One entry per side and rule (the first step that needs it names it). */
function dedupe(list: Permission[]): Permission[] {
  const seen = new Map<string, Permission>();
  for (const p of list) {
    const k = `${p.side} ${p.rule}`;
    const had = seen.get(k);
    if (!had) {
      seen.set(k, { ...p });
      continue;
    }
    if (!had.steps.includes(p.steps)) had.steps = `${had.steps}; ${p.steps}`;
    if (!had.probe && p.probe) Object.assign(had, { probe: p.probe, queued: p.queued, probeOnly: p.probeOnly && had.probeOnly });
  }
  return [...seen.values()];
}

/**
 * The rules of one side as `ACL SETUSER` arguments after the user's name and password: every key
 * (`~*`: the data), no command but the listed ones; the engine's target also gets every channel
 * (`&*`: PUBLISH travels in the replication stream).
 */
export function aclRules(perms: Permission[], side: Side, sync?: 'engine' | 'native'): string {
  const rules = perms.filter((p) => p.side === side && !p.probeOnly).map((p) => p.rule);
  return ['~*', ...(side === 'target' && sync === 'engine' ? ['&*'] : []), '-@all', ...rules].join(' ');
}

/** A missing rule found by a probe. */
export interface MissingPermission {
  side: Side;
  rule: string;
  command: string;
  probe?: string[];
  steps: string;
  message: string;
  instead?: string;
}

/**
 * Runs the probes of `side` on `client` (see the file comment); returns the rules the server
 * refused. A server without ACL users (redis < 6.0) is not probed.
 */
export async function probePermissions(client: Redis, side: Side, perms: Permission[], version: string, clientName = ferryClientName(side)): Promise<MissingPermission[]> {
  const [maj] = version.split('.').map(Number);
  if (!(maj >= 6)) return [];
  // NOTE: CLIENT SETNAME is probed with the name the connection has (ferry-<role>-<pid>): another
  // name would make the drain count ferry's own connection as an application client.
  const mine = perms.filter((p) => p.side === side && p.probe).map((p) => (p.rule === '+client|setname' ? { ...p, probe: ['CLIENT', 'SETNAME', clientName] } : p));
  const missing: MissingPermission[] = [];
  const note = (p: Permission, message: string) => missing.push({ side, rule: p.rule, command: commandLabel(p.probe!), probe: p.probe, steps: p.steps, message, ...(p.instead ? { instead: p.instead } : {}) });
  const queued = mine.filter((p) => p.queued);
  for (const p of mine.filter((x) => !x.queued)) {
    const r = await client.call(...(p.probe as [string, ...string[]])).then(() => null, (e: Error) => e.message);
    if (r && /^NOPERM/.test(r)) note(p, r);
  }
  if (queued.length && !missing.some((m) => m.rule === '+discard')) {
    // MULTI … DISCARD: each command is ACL-checked as it is queued, none runs. (DISCARD was probed
    // first, outside MULTI: a client that cannot leave a transaction must not enter one.)
    const multi = await client.call('MULTI').then(() => null, (e: Error) => e.message);
    if (multi) {
      if (/^NOPERM/.test(multi)) note({ ...queued[0], rule: '+multi', probe: ['MULTI'] }, multi);
      return missing;
    }
    try {
      for (const p of queued) {
        const r = await client.call(...(p.probe as [string, ...string[]])).then(() => null, (e: Error) => e.message);
        if (r && /^NOPERM/.test(r)) note(p, r);
      }
    } finally {
      await client.call('DISCARD').catch(() => client.disconnect());
    }
  }
  return missing;
}

function commandLabel(argv: string[]): string {
  const rule = commandRule(argv);
  return rule.slice(1).replace('|', ' ').toUpperCase();
}
