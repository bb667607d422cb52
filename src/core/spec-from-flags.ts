/**
 * Flags → MigrationSpec. The one place where command-line style options are validated and turned
 * into the spec the runner executes; the playbook loader and the wizard reuse `specFromFlags`
 * (with the same flag names as keys) so every entry point refuses the same bad input the same way.
 */
import { Command, Option } from 'commander';
import { MIN_BACKLOG, parseBacklogPolicy, type BacklogPolicy } from './backlog.js';
import { UsageError } from './errors.js';
import { type Endpoint, parseRedisUrl, tlsSocketOptions, withSentinelAuth } from './endpoint.js';
import { DEFAULTS, type MigrationSpec, type RepointStrategy, type RetirePolicy, type SyncMode, type TargetSpec, type VerifyMode } from './spec.js';

/** Flag values as commander hands them over (camelCased long names). All strings are raw. */
export interface MigrationFlags {
  from?: string;
  to?: string;
  sync?: string;
  repoint?: string;
  retire?: string;
  pauseTimeout?: string | number;
  drainTimeout?: string | number;
  hookTimeout?: string | number;
  dataDir?: string;
  serverArg?: string[];
  flushTarget?: boolean;
  backlog?: string | number;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsInsecure?: boolean;
  /** Engine filters (repeatable flags). */
  include?: string[];
  exclude?: string[];
  dbMap?: string[];
  /** The cutover gate: off, sample or full. */
  verify?: string;
  verifySample?: string | number;
  dropFieldTtl?: boolean;
}

/** Environment variables ferry reads passwords from. */
export interface PasswordEnv {
  FERRY_FROM_PASSWORD?: string;
  FERRY_TO_PASSWORD?: string;
  /** The Sentinels' own credentials, for a `sentinel://` --from. */
  FERRY_SENTINEL_USERNAME?: string;
  FERRY_SENTINEL_PASSWORD?: string;
}

/** Adds the migration flags (shared by plan and run) to a command. */
export function addMigrationOptions(cmd: Command): Command {
  return cmd
    .option('--from <url>', 'the old master: redis://[user:pass@]host:port[/db] (rediss:// for TLS), or sentinel://[user:pass@]host:port[,host:port…]/MASTER-NAME')
    .option('--to <target>', 'the new instance: a URL to attach to, or start[:PORT] to let ferry start redis-server')
    .addOption(new Option('--sync <mode>', `replication: native (REPLICAOF on the target) or engine (default ${DEFAULTS.sync})`))
    .option('--repoint <how>', "how clients move: exec:'CMD' (a hook), manual (you do it) or none (default manual)")
    .option('--retire <policy>', 'the old master afterwards: replica (default, rollback path), keep or shutdown')
    .option('--pause-timeout <ms>', `CLIENT PAUSE timeout at the cutover (default ${DEFAULTS.pauseTimeoutMs})`)
    .option('--drain-timeout <ms>', `how long to wait for clients to leave the old master (default ${DEFAULTS.drainTimeoutMs})`)
    .option('--hook-timeout <ms>', `how long the repoint hook may run (default ${DEFAULTS.hookTimeoutMs})`)
    .option('--data-dir <dir>', 'for --to start: where config, data, log and pid file go (default ./.ferry/<port>)')
    .option('--server-arg <arg>', "for --to start: a redis-server config line, e.g. 'appendonly yes' (repeatable)", collect)
    .option('--verify <mode>', `the cutover gate after converge, before any client moves: off, sample or full (default ${DEFAULTS.verify})`)
    .option('--verify-sample <n>', `keys drawn per db by --verify sample and the final check after promote (default ${DEFAULTS.verifySample})`)
    .option('--flush-target', 'accept that the target holds keys: they are deleted (FLUSHALL) before the sync')
    .option('--backlog <auto|keep|size>', "the source's repl-backlog-size for the migration: auto (default: 60 s of the measured writes, capped by memory), keep, or a size such as 64mb; put back afterwards")
    .option('--tls-ca <file>', 'CA certificate for rediss:// URLs')
    .option('--tls-cert <file>', 'client certificate for rediss:// URLs')
    .option('--tls-key <file>', 'client key for rediss:// URLs')
    .option('--tls-insecure', 'do not verify TLS certificates')
    .option('--include <glob>', 'engine only: copy only keys matching (repeatable)', collect)
    .option('--exclude <glob>', 'engine only: skip keys matching (repeatable)', collect)
    .option('--db-map <src:dst>', 'engine only: write source db SRC into target db DST (repeatable)', collect)
    .option('--drop-field-ttl', 'engine only: into a target without hash-field TTLs (before Redis 7.4), copy such fields without their TTL');
}

/** Commander's parser for a repeatable flag; no default, so `--help` shows none (absent: undefined). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * Builds and validates a spec. Throws a UsageError (exit 2) naming the flag on anything wrong.
 * Passwords come from the URLs or, when a URL has none, from FERRY_FROM_PASSWORD / FERRY_TO_PASSWORD.
 */
export function specFromFlags(flags: MigrationFlags, env: PasswordEnv = process.env as PasswordEnv): MigrationSpec {
  if (!flags.from) throw new UsageError('--from is required: the old master, e.g. --from redis://127.0.0.1:6379');
  if (!flags.to) throw new UsageError('--to is required: a URL (redis://host:port) or start[:PORT]');
  const from = withSentinelAuth(withPassword(parseRedisUrl(flags.from, '--from'), env.FERRY_FROM_PASSWORD), env);
  const to = parseTarget(flags.to, env.FERRY_TO_PASSWORD);
  const anyTls = from.tls || (to.kind === 'attach' && to.endpoint.tls);
  const tls = anyTls || flags.tlsCa || flags.tlsCert || flags.tlsKey || flags.tlsInsecure
    ? { ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey, insecure: flags.tlsInsecure ?? false }
    : undefined;
  if (tls) tlsSocketOptions(tls); // an unreadable certificate file fails here, naming its flag
  const hookTimeoutMs = positiveMs(flags.hookTimeout, '--hook-timeout', DEFAULTS.hookTimeoutMs);
  const sync = oneOf(flags.sync ?? DEFAULTS.sync, ['native', 'engine'] as const, '--sync') as SyncMode;
  const include = flags.include ?? [];
  const exclude = flags.exclude ?? [];
  const dbMap = parseDbMap(flags.dbMap ?? []);
  if (sync === 'native' && (include.length || exclude.length || Object.keys(dbMap).length || flags.dropFieldTtl)) {
    throw new UsageError('--include, --exclude, --db-map and --drop-field-ttl need the embedded engine: drop --sync native');
  }
  return {
    from,
    to,
    sync,
    // NOTE: behind Sentinel the clients move when Sentinel names the new master (step sentinel).
    repoint: parseRepoint(flags.repoint ?? (from.sentinel ? 'none' : 'manual'), hookTimeoutMs),
    retire: oneOf(flags.retire ?? DEFAULTS.retire, ['replica', 'keep', 'shutdown'] as const, '--retire') as RetirePolicy,
    pauseTimeoutMs: positiveMs(flags.pauseTimeout, '--pause-timeout', DEFAULTS.pauseTimeoutMs, 100),
    drainTimeoutMs: positiveMs(flags.drainTimeout, '--drain-timeout', DEFAULTS.drainTimeoutMs, 0),
    convergeMaxLagBytes: DEFAULTS.convergeMaxLagBytes,
    dataDir: flags.dataDir,
    serverArgs: (flags.serverArg ?? []).map(parseServerArg),
    flushTarget: flags.flushTarget ?? false,
    verify: oneOf(flags.verify ?? DEFAULTS.verify, ['off', 'sample', 'full'] as const, '--verify') as VerifyMode,
    verifySample: wholeNumber(flags.verifySample, '--verify-sample', DEFAULTS.verifySample),
    backlog: parseBacklogFlag(flags.backlog),
    tls,
    ...(include.length ? { include } : {}),
    ...(exclude.length ? { exclude } : {}),
    ...(Object.keys(dbMap).length ? { dbMap } : {}),
    ...(flags.dropFieldTtl ? { dropFieldTtl: true } : {}),
  };
}

/** `--backlog auto|keep|SIZE` (also `ferry sync`); a size below Redis' 16kb minimum is refused. */
export function parseBacklogFlag(value: string | number | undefined): BacklogPolicy {
  if (value === undefined) return DEFAULTS.backlog;
  const p = parseBacklogPolicy(String(value));
  if (!p) throw new UsageError(`--backlog: "${value}" is not auto, keep or a size such as 64mb, 1gb or 67108864`);
  if (p.kind === 'size' && p.bytes < MIN_BACKLOG) throw new UsageError(`--backlog: ${value} is below Redis' minimum repl-backlog-size of 16kb`);
  return p;
}

/** `--db-map SRC:DST` values → { SRC: DST }. */
export function parseDbMap(items: string[]): Record<number, number> {
  const map: Record<number, number> = {};
  for (const item of items) {
    const m = /^(\d+):(\d+)$/.exec(String(item).trim());
    if (!m) throw new UsageError(`--db-map "${item}" must be SRC:DST with two database numbers, e.g. --db-map 0:1`);
    map[Number(m[1])] = Number(m[2]);
  }
  return map;
}

function withPassword(e: Endpoint, envPassword?: string): Endpoint {
  return e.password || !envPassword ? e : { ...e, password: envPassword };
}

/** `start`, `start:PORT` or a URL. */
export function parseTarget(text: string, envPassword?: string): TargetSpec {
  const m = /^start(?::(.*))?$/.exec(text);
  if (/^sentinel:/i.test(text)) throw new UsageError('--to: a sentinel:// URL is only for --from; give the new instance as redis://host:port or start[:PORT]');
  if (!m) return { kind: 'attach', endpoint: withPassword(parseRedisUrl(text, '--to'), envPassword) };
  if (m[1] === undefined) return { kind: 'start', host: '127.0.0.1', password: envPassword };
  const port = Number(m[1]);
  if (!/^\d+$/.test(m[1]) || port < 1 || port > 65535) throw new UsageError(`--to: "${text}" has no valid port; write start or start:PORT (1-65535)`);
  return { kind: 'start', host: '127.0.0.1', port, password: envPassword };
}

/** `exec:CMD`, `manual` or `none`. */
export function parseRepoint(text: string, timeoutMs: number = DEFAULTS.hookTimeoutMs): RepointStrategy {
  if (text === 'manual' || text === 'none') return { kind: text };
  if (text.startsWith('exec:')) {
    const command = text.slice(5).trim();
    if (!command) throw new UsageError("--repoint exec: needs a command, e.g. --repoint exec:'./repoint.sh'");
    return { kind: 'exec', command, timeoutMs };
  }
  throw new UsageError(`--repoint: "${text}" is not one of exec:'CMD', manual, none`);
}

function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag}: "${value}" is not one of ${allowed.join(', ')}`);
  return value as T;
}

function positiveMs(value: string | number | undefined, flag: string, dflt: number, min = 1): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: "${value}" is not a whole number of milliseconds >= ${min}`);
  return n;
}

function wholeNumber(value: string | number | undefined, flag: string, dflt: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: "${value}" is not a whole number >= 1`);
  return n;
}

/** `appendonly yes` or `--appendonly yes` → `appendonly yes`. */
function parseServerArg(arg: string): string {
  const line = arg.trim().replace(/^--/, '');
  if (!/^[a-z][a-z0-9-]*(\s+\S.*)?$/i.test(line)) throw new UsageError(`--server-arg: "${arg}" is not a redis config line; write e.g. --server-arg 'appendonly yes'`);
  if (/[\r\n]/.test(line)) throw new UsageError('--server-arg: one config line per flag');
  return line;
}
