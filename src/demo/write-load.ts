/**
 * A write-load that behaves like an application during a migration: it writes unique keys
 * continuously to "the current master" named in a file (host:port), switches when the file
 * changes (as a repoint hook would make it), closes its old connection, and records every write
 * the server acknowledged, so a test can prove that none was lost.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';

export interface WriteLoadReport {
  acked: string[];
  failed: number;
  /** Longest time between two acknowledged writes, ms. */
  longestGapMs: number;
  writesPerSecond: number;
  switches: number;
  /** Why the load ended by itself before stop() (its server gone for good), or null. */
  error: string | null;
}

export interface WriteLoad {
  stop(): Promise<WriteLoadReport>;
  ackedCount(): number;
  /** Why the load ended by itself (the connection to the current master ended), or null. */
  readonly error: string | null;
  /** The longest gap between two acknowledged writes since the last call (or the start), ms. */
  takeLongestGap(): number;
}

export interface WriteLoadOptions {
  /** File holding "host:port" of the current master. */
  masterFile: string;
  password?: string;
  /** Concurrent writers (each waits for its ack before the next write). */
  lanes?: number;
  /** Hard stop, whatever happens. */
  maxMs?: number;
  prefix?: string;
  /** CLIENT SETNAME of the writer's connections (default ferry-test-load). */
  connectionName?: string;
  /** Each lane waits this long after each acknowledged write (default 0: as fast as it can). */
  intervalMs?: number;
}

/** Writes `host:port` to the master file (what a repoint hook does). */
export function pointMasterFile(file: string, host: string, port: number): void {
  writeFileSync(file, `${host}:${port}\n`);
}

function readMaster(file: string): string {
  return readFileSync(file, 'utf8').trim();
}

function connect(addr: string, password?: string, connectionName = 'ferry-test-load'): Redis {
  const i = addr.lastIndexOf(':');
  const c = new Redis({
    host: addr.slice(0, i),
    port: Number(addr.slice(i + 1)),
    password,
    connectionName,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: true,
    retryStrategy: (n) => (n > 50 ? null : 50),
  });
  c.on('error', () => {});
  return c;
}

/** Starts the load; call `stop()` to end it and get the report. */
export function startWriteLoad(opts: WriteLoadOptions): WriteLoad {
  const lanes = opts.lanes ?? 8;
  const prefix = opts.prefix ?? 'load';
  const acked: string[] = [];
  let failed = 0;
  let seq = 0;
  let stopping = false;
  let switches = 0;
  let addr = readMaster(opts.masterFile);
  let client = connect(addr, opts.password, opts.connectionName);
  const started = Date.now();
  let lastAck = started;
  let longestGapMs = 0;
  let windowGapMs = 0;
  let error: string | null = null;

  // Follow the master file: a new address means a new connection; the old one is closed
  // once its in-flight writes are answered, so the old master sees the client leave.
  const watcher = setInterval(() => {
    let next: string;
    try {
      next = readMaster(opts.masterFile);
    } catch {
      return;
    }
    if (next && next !== addr) {
      const old = client;
      addr = next;
      client = connect(addr, opts.password, opts.connectionName);
      switches++;
      old.quit().catch(() => old.disconnect());
    }
  }, 20);

  async function lane(): Promise<void> {
    while (!stopping && !error && Date.now() - started < (opts.maxMs ?? 120_000)) {
      // NOTE: a connection ends only once its retries are spent (the server is gone for good) and
      // no repoint gave a new one: every write would fail at once, so the lanes stop.
      if (client.status === 'end') {
        error = `the connection to ${addr} ended (the server is gone)`;
        break;
      }
      const key = `${prefix}:${seq++}`;
      try {
        await client.set(key, String(Date.now()));
        const now = Date.now();
        longestGapMs = Math.max(longestGapMs, now - lastAck);
        windowGapMs = Math.max(windowGapMs, now - lastAck);
        lastAck = now;
        acked.push(key);
        if (opts.intervalMs) await new Promise((r) => setTimeout(r, opts.intervalMs));
      } catch {
        failed++;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }
  const running = Promise.all(Array.from({ length: lanes }, () => lane()));

  return {
    ackedCount: () => acked.length,
    get error() {
      return error;
    },
    takeLongestGap() {
      const gap = windowGapMs;
      windowGapMs = 0;
      return gap;
    },
    async stop() {
      stopping = true;
      await running;
      clearInterval(watcher);
      client.disconnect();
      const secs = (Date.now() - started) / 1000;
      return { acked, failed, longestGapMs, writesPerSecond: acked.length / secs, switches, error };
    },
  };
}

/** Returns the acknowledged keys that are missing on `server` (checked in batches). */
export async function missingKeys(client: Redis, keys: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    const pipe = client.pipeline();
    for (const k of batch) pipe.exists(k);
    const res = (await pipe.exec()) ?? [];
    res.forEach(([, v], j) => {
      if (v !== 1) missing.push(batch[j]);
    });
  }
  return missing;
}
