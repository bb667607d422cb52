/**
 * A Sentinel-managed group on loopback for the tests: a master, its replicas and N Sentinels
 * (`redis-server FILE --sentinel` with a generated config), and a Sentinel-aware ioredis write
 * load that records every acknowledged write.
 *
 * NOTE: each Sentinel gets `SENTINEL DEBUG info-period 1000` (Redis 7.0+): it reads INFO from the
 * master and replicas every second instead of every 10 s, so replicas are discovered and checked
 * within a bounded, short test. ferry itself never relies on it.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { killPid, startRedis, type TestServer } from './redis-server.js';

export interface GroupOptions {
  name?: string;
  password?: string;
  replicas?: number;
  sentinels?: number;
  quorum?: number;
  downAfterMs?: number;
  failoverTimeoutMs?: number;
  parallelSyncs?: number;
  masterArgs?: string[];
}

export interface SentinelGroup {
  name: string;
  password?: string;
  master: TestServer;
  replicas: TestServer[];
  sentinels: TestServer[];
  settings: { quorum: number; downAfterMs: number; failoverTimeoutMs: number; parallelSyncs: number };
  /** sentinel://[:pass@]127.0.0.1:p1,…/NAME */
  url(): string;
  /** A connection to Sentinel i (closed by stop()). */
  sentinel(i: number): Redis;
  /** GET-MASTER-ADDR-BY-NAME on every Sentinel, as host:port. */
  masters(): Promise<string[]>;
  /** SIGKILLs Sentinel i (its rewritten config is kept for `restartSentinel`). */
  killSentinel(i: number): Promise<void>;
  /** Starts Sentinel i again on its port with the config it had rewritten. */
  restartSentinel(i: number): Promise<void>;
  /** Everything the group started. */
  servers(): TestServer[];
  stop(): Promise<void>;
}

/** Polls `fn` until it returns true; throws `what` after `timeoutMs`. */
export async function waitFor(fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function pairs(flat: unknown): Record<string, string> {
  const a = flat as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < a.length; i += 2) out[a[i]] = a[i + 1];
  return out;
}

/** `SENTINEL MASTER name` on a Sentinel connection, as a map. */
export async function sentinelMaster(c: Redis, name: string): Promise<Record<string, string>> {
  return pairs(await c.call('SENTINEL', 'MASTER', name));
}

/** Starts the group and waits until every Sentinel knows every replica and every other Sentinel. */
export async function startSentinelGroup(opts: GroupOptions = {}): Promise<SentinelGroup> {
  const name = opts.name ?? 'mymaster';
  const pw = opts.password;
  const auth = pw ? ['--requirepass', pw, '--masterauth', pw] : [];
  const settings = {
    quorum: opts.quorum ?? 2,
    downAfterMs: opts.downAfterMs ?? 4000,
    failoverTimeoutMs: opts.failoverTimeoutMs ?? 20_000,
    parallelSyncs: opts.parallelSyncs ?? 1,
  };
  const started: TestServer[] = [];
  const clients: Redis[] = [];
  try {
    const master = await startRedis({ args: [...auth, ...(opts.masterArgs ?? [])] });
    started.push(master);
    const replicas = await Promise.all(Array.from({ length: opts.replicas ?? 1 }, () => startRedis({ args: [...auth, '--replicaof', '127.0.0.1', String(master.port)] })));
    started.push(...replicas);
    const config = [
      `sentinel monitor ${name} 127.0.0.1 ${master.port} ${settings.quorum}`,
      `sentinel down-after-milliseconds ${name} ${settings.downAfterMs}`,
      `sentinel failover-timeout ${name} ${settings.failoverTimeoutMs}`,
      `sentinel parallel-syncs ${name} ${settings.parallelSyncs}`,
      ...(pw ? [`sentinel auth-pass ${name} ${pw}`] : []),
      '',
    ].join('\n');
    const sentinels = await Promise.all(Array.from({ length: opts.sentinels ?? 3 }, () => startRedis({ config, sentinel: true })));
    started.push(...sentinels);
    const conns = new Map<TestServer, Redis>();
    const sentinelConn = (s: TestServer): Redis => {
      let c = conns.get(s);
      if (!c) {
        c = new Redis({ host: '127.0.0.1', port: s.port, lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => 200, commandTimeout: 3000 });
        c.on('error', () => {});
        conns.set(s, c);
        clients.push(c);
      }
      return c;
    };
    const speedUp = async (s: TestServer) => {
      await sentinelConn(s).call('SENTINEL', 'DEBUG', 'info-period', '1000');
    };
    await Promise.all(sentinels.map(speedUp));
    const n = sentinels.length;
    await waitFor(async () => {
      for (const s of sentinels) {
        const m = await sentinelMaster(sentinelConn(s), name);
        if (Number(m['num-slaves']) < replicas.length || Number(m['num-other-sentinels']) < n - 1) return false;
      }
      return true;
    }, 30_000, 'the Sentinels to find the replicas and each other');
    const killed = new Map<number, string>();
    const group: SentinelGroup = {
      name,
      password: pw,
      master,
      replicas,
      sentinels,
      settings,
      url: () => `sentinel://${pw ? `:${pw}@` : ''}${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${name}`,
      sentinel: (i) => sentinelConn(sentinels[i]),
      async masters() {
        return Promise.all(sentinels.map(async (s) => ((await sentinelConn(s).call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[]).join(':')));
      },
      async killSentinel(i) {
        const s = sentinels[i];
        killed.set(i, readFileSync(s.configPath!, 'utf8'));
        conns.get(s)?.disconnect();
        conns.delete(s);
        await killPid(s.pid);
      },
      async restartSentinel(i) {
        const old = sentinels[i];
        const s = await startRedis({ port: old.port, config: killed.get(i) ?? readFileSync(old.configPath!, 'utf8'), sentinel: true });
        started.push(s);
        sentinels[i] = s;
        await speedUp(s);
        await old.stop();
      },
      servers: () => started,
      async stop() {
        for (const c of clients) c.disconnect();
        await Promise.all(started.map((s) => s.stop()));
      },
    };
    return group;
  } catch (err) {
    for (const c of clients) c.disconnect();
    await Promise.all(started.map((s) => s.stop()));
    throw err;
  }
}

export interface SentinelLoad {
  stop(): Promise<{ acked: string[]; failed: number }>;
  ackedCount(): number;
}

/**
 * Writes unique keys through a Sentinel-aware ioredis client (`sentinels`, `name`), the way an
 * application behind Sentinel does: it asks Sentinel for the master, checks its role, follows
 * `+switch-master` (failoverDetector) and reconnects after a disconnect. Every acknowledged key is
 * recorded. It stops by itself after `maxMs`.
 */
export function startSentinelLoad(group: SentinelGroup, opts: { lanes?: number; prefix?: string; maxMs?: number } = {}): SentinelLoad {
  const client = new Redis({
    sentinels: group.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
    name: group.name,
    password: group.password,
    failoverDetector: true,
    sentinelRetryStrategy: () => 100,
    retryStrategy: () => 50,
    maxRetriesPerRequest: 20,
    connectionName: 'app-behind-sentinel',
    // A write that meets a replica (-READONLY) reconnects, asks Sentinel again and is resent.
    reconnectOnError: (err: Error) => (/READONLY/.test(err.message) ? 2 : false),
  });
  client.on('error', () => {});
  const acked: string[] = [];
  let failed = 0;
  let seq = 0;
  let stopping = false;
  const started = Date.now();
  const lane = async () => {
    while (!stopping && Date.now() - started < (opts.maxMs ?? 90_000)) {
      const key = `${opts.prefix ?? 'app'}:${seq++}`;
      try {
        await client.set(key, String(Date.now()));
        acked.push(key);
      } catch {
        failed++;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  const running = Promise.all(Array.from({ length: opts.lanes ?? 4 }, lane));
  return {
    ackedCount: () => acked.length,
    async stop() {
      stopping = true;
      await running;
      client.disconnect();
      return { acked, failed };
    },
  };
}
