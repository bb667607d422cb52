/**
 * Connections to the servers ferry talks to. Every connection is named `ferry-<role>-<pid>` with
 * CLIENT SETNAME so the drain step can tell ferry's own connections from the application's.
 * A connection that cannot be made becomes a UsageError naming the flag to fix (exit 2).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { connectOrThrow } from './connect-client.js';
import { UsageError } from './errors.js';
import { type Endpoint, type TlsOptions, describeEndpoint, tlsSocketOptions } from './endpoint.js';
import { resolveEndpoint } from './sentinel.js';

/** Name given to a ferry connection; `isFerryClientName` recognises it. */
export function ferryClientName(role: string): string {
  return `ferry-${role.replace(/[^a-z0-9]/gi, '')}-${process.pid}`;
}

/** True for a CLIENT LIST `name` that belongs to a ferry process (this one or another). */
export function isFerryClientName(name: string): boolean {
  return /^ferry-[a-z0-9]+-\d+$/i.test(name);
}

export interface ConnectOptions {
  /** Role in the connection name: source, target, replica, … */
  role: string;
  /** Flag to name in error messages, e.g. "--from". */
  flag: string;
  tls?: TlsOptions;
  connectTimeoutMs?: number;
}

/** ioredis options for an endpoint (no retries: a lost link is an error the step handles). */
export function redisOptions(e: Endpoint, tls?: TlsOptions): RedisOptions {
  return {
    host: e.host,
    port: e.port,
    db: e.db,
    username: e.username,
    password: e.password,
    tls: e.tls ? tlsSocketOptions(tls) : undefined,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectTimeout: 5000,
  };
}


/**
 * Connects and authenticates, or throws a one-line UsageError: unreachable host, wrong password,
 * missing password. A `sentinel://` endpoint not resolved yet is resolved first (the master the
 * Sentinels name now). The returned client has no retry strategy; `disconnect()` it when done.
 */
export async function connectEndpoint(given: Endpoint, opts: ConnectOptions): Promise<Redis> {
  const e = await resolveEndpoint(given);
  const client = new Redis({ ...redisOptions(e, opts.tls), connectionName: ferryClientName(opts.role), connectTimeout: opts.connectTimeoutMs ?? 5000 });
  return connectOrThrow(client, (err) => connectionError(e, opts.flag, err));
}

function connectionError(e: Endpoint, flag: string, err: Error & { code?: string }): UsageError {
  const where = describeEndpoint(e);
  const pwEnv = flag === '--from' ? 'FERRY_FROM_PASSWORD' : 'FERRY_TO_PASSWORD';
  const msg = err.message ?? String(err);
  if (/WRONGPASS|invalid password|invalid username-password/i.test(msg)) {
    return new UsageError(`${where} refused the password; check the credentials in ${flag} or ${pwEnv}`);
  }
  if (/NOAUTH|Authentication required/i.test(msg)) {
    return new UsageError(`${where} requires a password; put it in ${flag} (redis://:PASS@host:port) or ${pwEnv}`);
  }
  if (/NOPERM/i.test(msg)) {
    const named = /run the '([^']+)' command/i.exec(msg)?.[1];
    const fix = named ? `add the ACL rule +${named.toLowerCase()} to the user of ${flag}` : `check the ACL of the user in ${flag}`;
    return new UsageError(`${where}: the user may not run ${named ? named.toUpperCase().replace('|', ' ') : 'a command ferry needs'}: ${fix} (${firstLine(msg)})`);
  }
  const code = err.code ?? '';
  const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ETIMEDOUT' || /timeout/i.test(msg) ? 'timed out' : firstLine(msg);
  return new UsageError(`cannot reach ${where} (${why}); check ${flag}`);
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

/** INFO text → flat map of `field: value` (section headers and blank lines dropped). */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** `INFO section` as a map. */
export async function info(client: Redis, section = 'all'): Promise<Record<string, string>> {
  return parseInfo(await client.info(section));
}

/** Splits `a=1,b=2` (INFO sub-fields such as `slave0:` and `db0:`) into a map. */
export function parseInfoFields(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}
