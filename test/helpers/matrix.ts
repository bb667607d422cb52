/**
 * One pair of the version matrix: `ferry run` from a source of one version into a target of
 * another, with a live writer (unique SETs whose acknowledgements are recorded, moved to the target
 * by the repoint hook) and a version-specific command mix on the source during the full sync and
 * the stream (streams with groups, XREADGROUP/XACK/XCLAIM/XAUTOCLAIM, XSETID and XGROUP with their
 * 7.0 arguments, HEXPIRE/HPERSIST on 7.4, transactions, several dbs). Afterwards the source (kept
 * as it was by --retire keep) and the target must be equal by a canonical per-key comparison
 * (canonical.ts), and every acknowledged write must be on the target.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { canonicalDump, diffDumps, type Comparable } from './canonical.js';
import { ferry, jsonEvents } from './cli.js';
import { fillVersion } from './version-dataset.js';
import { startVersion, type ServerVersion } from './versions.js';
import { missingKeys, pointMasterFile, startWriteLoad } from './write-load.js';
import type { TestServer } from './redis-server.js';

export interface PairResult {
  exitCode: number;
  stderr: string;
  events: Array<Record<string, any>>;
  /** Canonical differences source vs target (empty when equal). */
  diff: string[];
  missing: string[];
  acked: number;
  mixOps: number;
  ms: number;
}

export interface PairOptions {
  sync?: 'engine' | 'native';
  /** Extra ferry flags (e.g. --drop-field-ttl). */
  flags?: string[];
  /** Hash-field TTLs in the source (7.4): default true. */
  fieldTtl?: boolean;
}

/** What the pair can compare exactly: 7.0 stream metadata, hash-field TTLs. */
export function comparable(s: ServerVersion, t: ServerVersion, dropFieldTtl: boolean): Comparable {
  const fieldTtl = (v: ServerVersion) => !v.valkey && v.redis >= 704;
  // Pending entries whose stream entry was trimmed: the commands writer (target RDB older than the
  // source's) cannot recreate them; and a 7.0+ server's XCLAIM (which XAUTOCLAIM/XCLAIM on the
  // source propagate) drops them from the PEL where 6.2 keeps them (t_stream.c xclaimCommand at
  // 7.0.15: "Clear this entry from the PEL, it no longer exists"), as on a native 7.0 replica.
  const danglingPel = t.rdb >= s.rdb && !(s.redis < 700 && t.redis >= 700);
  return { streamMeta: s.redis >= 700 && t.redis >= 700, fieldTtl: fieldTtl(s) && fieldTtl(t) && !dropFieldTtl, danglingPel };
}

/** Runs the pair; servers are stopped before it returns. */
export async function runPair(s: ServerVersion, t: ServerVersion, opts: PairOptions = {}): Promise<PairResult> {
  const started = Date.now();
  const servers: TestServer[] = [];
  const dir = mkdtempSync(join(tmpdir(), `ferry-matrix-${s.name}-${t.name}-`));
  try {
    const [source, target] = await Promise.all([startVersion(s, { args: ['--repl-backlog-size', '16mb'] }), startVersion(t)]);
    servers.push(source, target);
    const seed = source.client();
    const withFunctions = t.redis >= 700 || t.valkey;
    await fillVersion(seed, s, { fieldTtl: opts.fieldTtl, functions: withFunctions });
    seed.disconnect(); // the drain waits for every non-ferry client to leave the old master
    const masterFile = join(dir, 'master');
    pointMasterFile(masterFile, source.host, source.port);
    const load = startWriteLoad({ masterFile, lanes: 4, maxMs: 50_000, prefix: 'load', intervalMs: 2 });
    const mix = startMix(source.client(), s, masterFile, opts.fieldTtl !== false);
    const hook = `exec:printf '%s:%s\\n' "$FERRY_NEW_HOST" "$FERRY_NEW_PORT" > ${masterFile}.tmp && mv ${masterFile}.tmp ${masterFile}`;
    let run;
    let report;
    let mixOps;
    try {
      await new Promise((r) => setTimeout(r, 200));
      run = await ferry(
        ['run', '--from', source.url, '--to', target.url, '--sync', opts.sync ?? 'engine', '--repoint', hook, '--retire', 'keep', '--yes', '--json',
          '--state', join(dir, 'state.json'), '--drain-timeout', '10000', '--pause-timeout', '1500', ...(opts.flags ?? [])],
        { cwd: dir, timeoutMs: 50_000 },
      );
    } finally {
      await new Promise((r) => setTimeout(r, 100));
      report = await load.stop();
      mixOps = await mix.stop();
    }
    const events = jsonEvents(run.stdout);
    const result: PairResult = { exitCode: run.code, stderr: run.stderr, events, diff: [], missing: [], acked: report.acked.length, mixOps, ms: 0 };
    if (run.code === 0) {
      const sc = source.client();
      const tc = target.client();
      const cmp = { ...comparable(s, t, (opts.flags ?? []).includes('--drop-field-ttl')), inexactEntriesRead: (k: Buffer) => k.toString() === 'mix:stream' };
      const skip = (k: Buffer) => k.length > 5 && k.subarray(0, 5).toString() === 'load:';
      const [a, b] = await Promise.all([canonicalDump(sc, cmp, skip), canonicalDump(tc, cmp, skip)]);
      result.diff = diffDumps(a, b);
      if (a.size < 50) result.diff.push(`the source dump has only ${a.size} keys`);
      if (withFunctions && (s.redis >= 700 || s.valkey)) {
        const [fa, fb] = await Promise.all([sc.call('FUNCTION', 'LIST'), tc.call('FUNCTION', 'LIST')]);
        if (JSON.stringify(fa) !== JSON.stringify(fb)) result.diff.push(`FUNCTION LIST differs: ${JSON.stringify(fa)} != ${JSON.stringify(fb)}`);
      }
      result.missing = await missingKeys(tc, report.acked);
    }
    result.ms = Date.now() - started;
    return result;
  } finally {
    await Promise.all(servers.map((x) => x.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The version-specific command mix on the source, until the master file no longer names it (the
 * repoint hook ran); then it disconnects so the drain can finish. Returns the commands sent.
 */
function startMix(c: Redis, v: ServerVersion, masterFile: string, fieldTtl: boolean): { stop(): Promise<number> } {
  const addr = readFileSync(masterFile, 'utf8').trim();
  let stop = false;
  let n = 0;
  const moved = (): boolean => {
    try {
      return readFileSync(masterFile, 'utf8').trim() !== addr;
    } catch {
      return false;
    }
  };
  const run = (async () => {
    const s = 'mix:stream';
    await c.xgroup('CREATE', s, 'mg', '$', 'MKSTREAM');
    while (!stop && !moved()) {
      const p = c.pipeline();
      for (let i = 0; i < 10; i++, n++) {
        p.set(`mix:s:${n % 50}`, `v${n}`);
        p.incr(`mix:ctr:${n % 7}`);
        p.hset(`mix:h:${n % 5}`, `f${n % 11}`, String(n));
        p.rpush(`mix:l:${n % 3}`, `e${n}`);
        p.sadd(`mix:set:${n % 3}`, `m${n % 40}`);
        p.zadd(`mix:z`, String(n % 100), `m${n % 30}`);
        p.pexpire(`mix:s:${n % 50}`, 3_600_000 + n);
        // 7.0 propagates `PEXPIREAT key ms GT`, with the option a 6.2 target does not know.
        if (v.redis >= 700) p.call('EXPIRE', `mix:s:${n % 50}`, String(7200 + n), 'GT');
        p.del(`mix:s:${(n + 25) % 50}`);
        p.xadd(s, '*', 'n', String(n));
        (p as unknown as { multi(): typeof p }).multi().incr('mix:tx').lpush('mix:txl', String(n)).exec(); // NOTE: missing from ioredis' types
      }
      p.xreadgroup('GROUP', 'mg', `c${n % 3}`, 'COUNT', '3', 'STREAMS', s, '>');
      p.xack(s, 'mg', '0-1');
      p.xtrim(s, 'MAXLEN', '200');
      p.select(3).set(`mix:db3:${n % 20}`, String(n)).xadd('mix:db3:stream', '*', 'n', String(n)).select(0);
      if (v.redis >= 602) {
        p.call('XGROUP', 'CREATECONSUMER', s, 'mg', `idle${n % 4}`);
        p.call('XAUTOCLAIM', s, 'mg', 'c0', '0', '0-0', 'COUNT', '2');
      }
      if (v.redis >= 700) {
        // The 7.0 forms a 6.2 target does not know: the applier must drop their new arguments.
        const k = `mix:setid:${n % 10}`;
        p.del(k);
        p.xadd(k, '5-1', 'f', 'v');
        p.call('XSETID', k, '10-0', 'ENTRIESADDED', '5', 'MAXDELETEDID', '2-0');
        p.call('XGROUP', 'CREATE', k, 'g', '$', 'ENTRIESREAD', '1');
        p.call('XGROUP', 'SETID', k, 'g', '5-1', 'ENTRIESREAD', '1');
      }
      if (v.redis >= 704 && !v.valkey && fieldTtl) {
        p.hset('mix:hfe', `f${n % 8}`, String(n));
        p.call('HEXPIRE', 'mix:hfe', '7200', 'FIELDS', '1', `f${n % 8}`);
        p.call('HPERSIST', 'mix:hfe', 'FIELDS', '1', `f${(n + 3) % 8}`);
      }
      await p.exec();
      await new Promise((r) => setTimeout(r, 20));
    }
    c.disconnect();
  })();
  return {
    async stop() {
      stop = true;
      await run;
      return n;
    },
  };
}

/** The writer the engine must pick: RESTORE when the target reads the source's RDB version. */
export function expectedWriter(s: ServerVersion, t: ServerVersion): 'RESTORE' | 'type commands' {
  return t.rdb >= s.rdb ? 'RESTORE' : 'type commands';
}

/** The `engine writer: …` line of a run's events. */
export function writerOf(events: PairResult['events']): string | undefined {
  return events.find((e) => e.event === 'info' && /^engine writer: /.test(e.message))?.message;
}

/** The final event's report. */
export function finalReport(events: PairResult['events']): Record<string, any> {
  return events[events.length - 1]?.report ?? {};
}
