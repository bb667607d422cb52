/**
 * The target's dialect: which commands and arguments its version knows, so the full-sync writer
 * never sends one it lacks and the stream applier rewrites (or refuses) a newer source's commands.
 *
 * Where each fact comes from (redis/redis at the release tags, valkey-io/valkey):
 * - `XSETID key id ENTRIESADDED n MAXDELETEDID id`, `XGROUP CREATE|SETID … ENTRIESREAD n`: 7.0
 *   (src/commands/xsetid.json at 7.0.15: ENTRIESADDED and MAXDELETEDID "since": "7.0.0"; 6.2.16's
 *   command table gives xsetid arity 3, its XGROUP CREATE takes only MKSTREAM). A 7.0+ master propagates every
 *   XREADGROUP/XACK position as `XGROUP SETID key group id ENTRIESREAD n` (t_stream.c
 *   streamPropagateGroupID at 7.0.15; 5.0.14 and 6.2.16 send `XGROUP SETID key group id`).
 * - `XGROUP CREATECONSUMER`: 6.2 (6.2.16's t_stream.c has it and streamPropagateConsumerCreation;
 *   5.0.14's has neither). `XCLAIM … TIME RETRYCOUNT FORCE JUSTID LASTID`: 5.0
 *   (streamPropagateXCLAIM at 5.0.14 sends exactly these).
 * - Hash-field TTLs: Redis 7.4 (HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT, HPERSIST; t_hash.c at
 *   7.4.1 propagates every HEXPIRE form as `HPEXPIREAT key ms [NX|XX|GT|LT] FIELDS n f…` and
 *   HPERSIST as is; an expired field goes out as HDEL), Valkey 9.0 (valkey.io/commands/hexpire:
 *   "Since: 9.0.0"); Valkey 8.0.1 has none (no src/commands/hexpire.json at its tag).
 * - FUNCTION: 7.0 (function.json "since": "7.0.0"); Valkey 7.2+ has it.
 * - SPUBLISH: 7.0; a standalone 7.0 master propagates it to its replicas (pubsub.c
 *   spublishCommand: forceCommandPropagation unless cluster_enabled). A target without it has no
 *   shard channels (no SSUBSCRIBE), so no subscriber there could receive it: it is dropped.
 * - `EXPIRE|PEXPIRE|EXPIREAT|PEXPIREAT key t NX|XX|GT|LT`: 7.0 (pexpireat.json history "7.0.0";
 *   6.2.16's command table gives them arity 3). A 7.0 master propagates `PEXPIREAT key ms` and
 *   KEEPS the option (expire.c expireGenericCommand rewrites only arguments 0 and 2). It only
 *   propagates an expire whose condition held, and the target holds the same key, so the option
 *   is dropped for an older target.
 * - The other 7.0 writes reach a stream in older forms: LMPOP/BLMPOP as `LPOP|RPOP key count`
 *   (t_list.c), ZMPOP/BZMPOP as ZPOPMIN/ZPOPMAX with a count (t_zset.c); functions always
 *   replicate their effects. 7.2 and Valkey 8.0 add no write command (src/commands/*.json at
 *   7.2.6 and 8.0.1 against 7.0.15 and 7.2.6).
 * What ferry itself sends needs nothing newer than 5.0 beyond the above (RESTORE … ABSTTL IDLETIME
 * FREQ, MSET, PEXPIREAT, RPUSH/SADD/ZADD/HSET, XADD, XGROUP CREATE … MKSTREAM|DESTROY, XCLAIM …
 * FORCE JUSTID, MULTI/EXEC, SWAPDB, FLUSHALL ASYNC), and the matrix targets start at 6.2.
 * Valkey reports `redis_version:7.2.4` for compatibility, so Valkey is judged by valkey_version.
 */
/** What the target understands. */
export interface Dialect {
  /** For messages: "redis 6.2.16", "valkey 8.0.1". */
  name: string;
  /** XSETID ENTRIESADDED/MAXDELETEDID and XGROUP … ENTRIESREAD (Redis 7.0). */
  streamMeta: boolean;
  /** XGROUP CREATECONSUMER (Redis 6.2). */
  createConsumer: boolean;
  /** Hash-field TTLs: HPEXPIREAT, HPERSIST (Redis 7.4, Valkey 9.0). */
  fieldTtl: boolean;
  /** FUNCTION LOAD/DELETE/FLUSH/RESTORE (Redis 7.0). */
  functions: boolean;
  /** SPUBLISH, shard channels (Redis 7.0). */
  shardPubsub: boolean;
  /** EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT with NX|XX|GT|LT (Redis 7.0). */
  expireOptions: boolean;
  /** SET … PXAT <unix ms> (Redis 6.2): a value and its absolute TTL in one command. */
  setPxat: boolean;
}

/** Versions as INFO server reports them. */
export interface ServerVersions {
  redisVersion?: string;
  valkeyVersion?: string;
}

/** major*100 + minor of a "7.2.4" style version; 0 when unknown. */
export function versionNumber(v: string | undefined): number {
  const [maj, min] = String(v ?? '').split('.').map(Number);
  return Number.isFinite(maj) ? maj * 100 + (Number.isFinite(min) ? min : 0) : 0;
}

/** The dialect of a server from its versions. An unknown version is taken as current (all true). */
export function dialectOf(v: ServerVersions): Dialect {
  if (v.valkeyVersion) {
    const n = versionNumber(v.valkeyVersion);
    // Valkey 7.2+ forked from Redis 7.2.4: everything of 7.2; field TTLs from Valkey 9.0.
    return { name: `valkey ${v.valkeyVersion}`, streamMeta: true, createConsumer: true, fieldTtl: n >= 900, functions: true, shardPubsub: true, expireOptions: true, setPxat: true };
  }
  const n = versionNumber(v.redisVersion);
  const known = n > 0;
  return {
    name: `redis ${v.redisVersion ?? '(unknown version)'}`,
    streamMeta: !known || n >= 700,
    createConsumer: !known || n >= 602,
    fieldTtl: !known || n >= 704,
    functions: !known || n >= 700,
    shardPubsub: !known || n >= 700,
    expireOptions: !known || n >= 700,
    setPxat: !known || n >= 602,
  };
}

/** True when the target knows every form this module rewrites. */
export function knowsEverything(d: Dialect): boolean {
  return d.streamMeta && d.createConsumer && d.fieldTtl && d.functions && d.shardPubsub && d.expireOptions;
}

/** A dialect that knows everything (tests, unknown targets). */
export const FULL_DIALECT: Dialect = { name: 'current', streamMeta: true, createConsumer: true, fieldTtl: true, functions: true, shardPubsub: true, expireOptions: true, setPxat: true };

/** What to do with one replicated command on this target. */
export type Translation =
  | { action: 'keep' }
  | { action: 'rewrite'; argv: Buffer[] }
  /** Not applied; `lost` names what the target then lacks (counted, not an error). */
  | { action: 'drop'; lost: 'field-ttl' | 'consumer' | 'message' }
  /** The target cannot apply it and nothing may be dropped: the sync must stop (message names the fix). */
  | { action: 'refuse'; message: string };

const KEEP: Translation = { action: 'keep' };
const EXPIRE_COMMANDS = new Set(['EXPIRE', 'PEXPIRE', 'EXPIREAT', 'PEXPIREAT']);
const FIELD_TTL_COMMANDS = new Set(['HPEXPIREAT', 'HPEXPIRE', 'HEXPIREAT', 'HEXPIRE', 'HPERSIST']);

export interface TranslateOptions {
  /** --drop-field-ttl: hash-field TTL commands are dropped for a target without them. */
  dropFieldTtl?: boolean;
}

/**
 * Rewrites a source command into the target's dialect. Only what a replication stream can carry
 * is considered (see the file comment); everything else is kept as is.
 */
export function translateCommand(argv: readonly Buffer[], d: Dialect, opts: TranslateOptions = {}): Translation {
  const name = upper(argv[0]);
  if (name === 'XSETID') {
    // XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]: 6.2 knows only the first form.
    if (!d.streamMeta && argv.length > 3) return { action: 'rewrite', argv: argv.slice(0, 3) };
    return KEEP;
  }
  if (name === 'XGROUP') {
    const sub = upper(argv[1]);
    if ((sub === 'CREATE' || sub === 'SETID') && !d.streamMeta) {
      const out = withoutOption(argv, 'ENTRIESREAD', 1);
      return out.length === argv.length ? KEEP : { action: 'rewrite', argv: out };
    }
    // The consumer is created by its first XCLAIM on such a target; one without pending entries is lost.
    if (sub === 'CREATECONSUMER' && !d.createConsumer) return { action: 'drop', lost: 'consumer' };
    return KEEP;
  }
  if (FIELD_TTL_COMMANDS.has(name) && !d.fieldTtl) {
    if (opts.dropFieldTtl) return { action: 'drop', lost: 'field-ttl' };
    return { action: 'refuse', message: `the source set a hash-field TTL (${name}), which the target (${d.name}) cannot hold; run again with --drop-field-ttl to copy such fields without their TTL, or use a Redis 7.4+ target` };
  }
  if (EXPIRE_COMMANDS.has(name)) {
    return !d.expireOptions && argv.length > 3 ? { action: 'rewrite', argv: argv.slice(0, 3) } : KEEP;
  }
  if (name === 'SPUBLISH' && !d.shardPubsub) return { action: 'drop', lost: 'message' };
  if (name === 'FUNCTION' && !d.functions) {
    return { action: 'refuse', message: `the source ran FUNCTION ${upper(argv[1])}, and the target (${d.name}) has no functions; use a Redis 7.0+ target` };
  }
  return KEEP;
}

/** argv without `OPTION <n values>` (case-insensitive), from index 2 on. */
function withoutOption(argv: readonly Buffer[], option: string, values: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (i >= 2 && upper(argv[i]) === option) {
      i += values;
      continue;
    }
    out.push(argv[i]);
  }
  return out;
}

function upper(b: Buffer | undefined): string {
  return b ? b.toString('latin1').toUpperCase() : '';
}
