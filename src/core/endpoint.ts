/**
 * Server addresses: `redis://[user:pass@]host:port[/db]`, `rediss://` for TLS.
 * The password lives only in memory (from the URL or FERRY_*_PASSWORD); `describeEndpoint`
 * and `toPublicUrl` are what may be printed or stored.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './errors.js';

export interface TlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
}

export interface Endpoint {
  host: string;
  port: number;
  db: number;
  username?: string;
  /** Never serialised: see `toPublicUrl`. */
  password?: string;
  tls: boolean;
}

/**
 * Parses a redis URL. `which` names the flag for the error message ("--from").
 * Throws UsageError with a one-line fix on anything malformed.
 */
export function parseRedisUrl(text: string, which: string): Endpoint {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`${which}: "${safeShow(text)}" is not a URL; write it as redis://[user:pass@]host:port[/db]`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UsageError(`${which}: unsupported scheme "${u.protocol}"; use redis:// or rediss://`);
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

/** host:port, IPv6 bracketed. */
export function hostPort(e: Pick<Endpoint, 'host' | 'port'>): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** A URL safe to print or store: the password is replaced by `***`. */
export function toPublicUrl(e: Endpoint): string {
  const scheme = e.tls ? 'rediss' : 'redis';
  const cred = e.username || e.password ? `${e.username ?? ''}${e.password ? ':***' : ''}@` : '';
  return `${scheme}://${cred}${hostPort(e)}${e.db ? `/${e.db}` : ''}`;
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
