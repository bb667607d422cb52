/**
 * `ferry verify` flags → VerifyOptions (validated; a bad value is a one-line UsageError naming the
 * flag). The URL, password and TLS handling are `ferry run`'s: core/endpoint.ts parses the URLs,
 * FERRY_FROM_PASSWORD / FERRY_TO_PASSWORD fill in a password a URL lacks.
 */
import { UsageError } from '../core/errors.js';
import { parseRedisUrl, tlsSocketOptions } from '../core/endpoint.js';
import type { PasswordEnv } from '../core/spec-from-flags.js';
import { parseDbMap } from '../core/spec-from-flags.js';
import type { VerifyOptions } from './verifier.js';

/** Flags of `ferry verify` as commander hands them over. */
export interface VerifyFlags {
  from?: string;
  to?: string;
  sample?: string;
  rate?: string;
  ttlTolerance?: string;
  rounds?: string;
  roundInterval?: string;
  maxKeys?: string;
  maxRecheck?: string;
  include?: string[];
  exclude?: string[];
  dbMap?: string[];
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsInsecure?: boolean;
  dropFieldTtl?: boolean;
}

/** Defaults shown in --help and the README. */
export const VERIFY_DEFAULTS = { ttlToleranceMs: 1000, rounds: 3, roundIntervalMs: 1000, maxKeys: 100, maxRecheck: 100_000, sample: 10_000 };

/** Builds the options; throws UsageError naming the flag on anything wrong. */
export function verifyOptionsFromFlags(flags: VerifyFlags, env: PasswordEnv = process.env as PasswordEnv): VerifyOptions {
  if (!flags.from) throw new UsageError('--from is required: the source, e.g. --from redis://127.0.0.1:6379');
  if (!flags.to) throw new UsageError('--to is required: the target, e.g. --to redis://127.0.0.1:6380');
  const from = parseRedisUrl(flags.from, '--from');
  const to = parseRedisUrl(flags.to, '--to');
  from.password ??= env.FERRY_FROM_PASSWORD;
  to.password ??= env.FERRY_TO_PASSWORD;
  const anyTls = from.tls || to.tls || flags.tlsCa || flags.tlsCert || flags.tlsKey || flags.tlsInsecure;
  const tls = anyTls ? { ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey, insecure: flags.tlsInsecure ?? false } : undefined;
  if (tls) tlsSocketOptions(tls); // an unreadable certificate file fails here, naming its flag
  const dbMap = parseDbMap(flags.dbMap ?? []);
  const include = flags.include ?? [];
  const exclude = flags.exclude ?? [];
  return {
    from,
    to,
    tls,
    sample: flags.sample === undefined ? undefined : whole(flags.sample, '--sample', 1),
    rate: flags.rate === undefined ? undefined : whole(flags.rate, '--rate', 1),
    ttlToleranceMs: flags.ttlTolerance === undefined ? VERIFY_DEFAULTS.ttlToleranceMs : whole(flags.ttlTolerance, '--ttl-tolerance', 0),
    rounds: flags.rounds === undefined ? VERIFY_DEFAULTS.rounds : whole(flags.rounds, '--rounds', 0),
    roundIntervalMs: flags.roundInterval === undefined ? VERIFY_DEFAULTS.roundIntervalMs : whole(flags.roundInterval, '--round-interval', 0),
    maxKeys: flags.maxKeys === undefined ? VERIFY_DEFAULTS.maxKeys : whole(flags.maxKeys, '--max-keys', 0),
    maxRecheck: flags.maxRecheck === undefined ? VERIFY_DEFAULTS.maxRecheck : whole(flags.maxRecheck, '--max-recheck', 1),
    ...(flags.dropFieldTtl ? { ignoreFieldTtls: true } : {}),
    ...(include.length || exclude.length || Object.keys(dbMap).length ? { filter: { include, exclude, dbMap } } : {}),
  };
}

/** A whole number >= min, or a UsageError naming the flag. */
export function whole(value: string | number, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || String(value).trim() === '') throw new UsageError(`${flag}: "${value}" is not a whole number >= ${min}`);
  return n;
}
