/**
 * Server addresses: `redis://[user:pass@]host:port[/db]`, `rediss://` for TLS, and
 * `sentinel://[user:pass@]host:port[,host:port…]/MASTER-NAME` for a master managed by Redis
 * Sentinel (the credentials are the master's; the Sentinels' own come from FERRY_SENTINEL_PASSWORD).
 * A Sentinel endpoint has no host until it is resolved (src/core/sentinel.ts `resolveEndpoint`,
 * which `connectEndpoint` does by itself), so every command that takes a URL takes this one too.
 * The password lives only in memory (from the URL or FERRY_*_PASSWORD); `toPublicUrl` is what
 * may be printed or stored.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './errors.js';

export interface TlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
}

/** One Sentinel's address. */
export interface SentinelNode {
  host: string;
  port: number;
}

/** How to find a master through Sentinel. */
export interface SentinelRef {
  /** The master's name in Sentinel (`sentinel monitor NAME …`). */
  name: string;
  nodes: SentinelNode[];
  /** The Sentinels' own credentials (FERRY_SENTINEL_USERNAME / FERRY_SENTINEL_PASSWORD); never stored. */
  username?: string;
  password?: string;
}

export interface Endpoint {
  /** '' for a `sentinel://` endpoint not resolved yet. */
  host: string;
  port: number;
  db: number;
  username?: string;
  /** Never serialised: see `toPublicUrl`. */
  password?: string;
  tls: boolean;
  /** Set for `sentinel://`: host/port are then the master the Sentinels named. */
  sentinel?: SentinelRef;
}

/**
 * Parses a redis URL. `which` names the flag for the error message ("--from").
 * Throws UsageError with a one-line fix on anything malformed.
 */
export function parseRedisUrl(text: string, which: string): Endpoint {
  if (/^sentinel:/i.test(text)) return parseSentinelUrl(text, which);
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`${which}: "${safeShow(text)}" is not a URL; write it as redis://[user:pass@]host:port[/db]`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UsageError(`${which}: unsupported scheme "${u.protocol}"; use redis://, rediss:// or sentinel://`);
  }
  if (!u.hostname) throw new UsageError(`${which}: the URL has no host; write it as redis://host:port`);
  const port = u.port ? Number(u.port) : 6379;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`${which}: port "${u.port}" is out of range 1-65535`);
  }
  const path = u.pathname.replace(/^\//, '');
  const db = path === '' ? 0 : Number(path);
  if (!Number.isInteger(db) || db < 0) {
    throw new UsageError(`${which}: "/${path}" is not a database number; write e.g. redis://host:port/0`);
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return {
    host,
    port,
    db,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === 'rediss:',
  };
}

const SENTINEL_FORM = 'sentinel://[user:pass@]host:port[,host:port…]/MASTER-NAME';

/**
 * `sentinel://[user:pass@]host[:port][,host[:port]…]/MASTER-NAME` (Sentinel's port defaults to
 * 26379). The WHATWG URL parser does not take a list of hosts, so this one is parsed by hand.
 */
export function parseSentinelUrl(text: string, which: string): Endpoint {
  const m = /^sentinel:\/\/(?:([^@/]*)@)?([^/]*)(?:\/(.*))?$/i.exec(text);
  if (!m) throw new UsageError(`${which}: "${safeShow(text)}" is not a Sentinel URL; write it as ${SENTINEL_FORM}`);
  const [, cred, hosts, rawName] = m;
  const name = rawName ? decodeURIComponent(rawName.replace(/\/$/, '')) : '';
  if (!name || name.includes('/')) throw new UsageError(`${which}: the Sentinel URL names no master; write it as ${SENTINEL_FORM}`);
  const nodes = hosts.split(',').filter(Boolean).map((h) => {
    const hp = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d*))?$/.exec(h.trim());
    const port = hp?.[3] ? Number(hp[3]) : 26379;
    if (!hp || !Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`${which}: "${h}" is not a Sentinel host:port (port 1-65535); write it as ${SENTINEL_FORM}`);
    return { host: hp[1] ?? hp[2], port };
  });
  if (nodes.length === 0) throw new UsageError(`${which}: the Sentinel URL has no host; write it as ${SENTINEL_FORM}`);
  let username: string | undefined;
  let password: string | undefined;
  if (cred) {
    const i = cred.indexOf(':');
    username = decodeURIComponent(i < 0 ? cred : cred.slice(0, i)) || undefined;
    password = i < 0 ? undefined : decodeURIComponent(cred.slice(i + 1)) || undefined;
  }
  return { host: '', port: 0, db: 0, username, password, tls: false, sentinel: { name, nodes } };
}

/** A `sentinel://` endpoint gets the Sentinels' own credentials from FERRY_SENTINEL_USERNAME / FERRY_SENTINEL_PASSWORD. */
export function withSentinelAuth(e: Endpoint, env: { FERRY_SENTINEL_USERNAME?: string; FERRY_SENTINEL_PASSWORD?: string }): Endpoint {
  if (!e.sentinel) return e;
  return { ...e, sentinel: { ...e.sentinel, username: env.FERRY_SENTINEL_USERNAME || undefined, password: env.FERRY_SENTINEL_PASSWORD || undefined } };
}

/** host:port, IPv6 bracketed. */
export function hostPort(e: Pick<Endpoint, 'host' | 'port'>): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** A URL safe to print or store: the password is replaced by `***`. */
export function toPublicUrl(e: Endpoint): string {
  const cred = e.username || e.password ? `${e.username ?? ''}${e.password ? ':***' : ''}@` : '';
  if (e.sentinel) return `sentinel://${cred}${e.sentinel.nodes.map(hostPort).join(',')}/${encodeURIComponent(e.sentinel.name)}`;
  const scheme = e.tls ? 'rediss' : 'redis';
  return `${scheme}://${cred}${hostPort(e)}${e.db ? `/${e.db}` : ''}`;
}

/** For messages: the URL, plus the master a Sentinel endpoint resolved to. */
export function describeEndpoint(e: Endpoint): string {
  return e.sentinel && e.host ? `${toPublicUrl(e)} (master ${hostPort(e)})` : toPublicUrl(e);
}

/** The same as toPublicUrl but for a raw, possibly unparseable string. */
function safeShow(text: string): string {
  return text.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

const TLS_FLAG = { ca: '--tls-ca', cert: '--tls-cert', key: '--tls-key' } as const;

/**
 * Node TLS socket options from ferry's TLS flags (the files are read now). A file that cannot be
 * read is a UsageError naming its flag (exit 2).
 */
export function tlsSocketOptions(t: TlsOptions = {}): { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean } {
  const read = (field: keyof typeof TLS_FLAG): Buffer | undefined => {
    const path = t[field];
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (e) {
      throw new UsageError(`${TLS_FLAG[field]} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give the path of a PEM file`);
    }
  };
  return { ca: read('ca'), cert: read('cert'), key: read('key'), rejectUnauthorized: !t.insecure };
}
