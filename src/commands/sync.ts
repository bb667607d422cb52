/**
 * `ferry sync --from URL --to URL [--state F] [--until-caught-up] [--json] [--include GLOB]…
 *  [--exclude GLOB]… [--db-map SRC:DST]… [--writer auto|restore|commands] [--replace] [--flush-target]
 *  [--backlog auto|keep|SIZE]`
 *
 * The embedded engine alone: full sync, then follow the source's command stream into the target.
 * - `--until-caught-up`: exit 0 once the applied offset equals the source's master_repl_offset;
 *   the checkpoint key is removed, so the target holds exactly the source's data.
 * - otherwise it follows until SIGINT/SIGTERM, then stops cleanly (no half transaction applied,
 *   everything sent acknowledged by the target, state saved) and exits 130 ("interrupted").
 *   With `--state F` the reserved checkpoint key is removed from the target at that stop (the state
 *   file holds the position); without it the key stays, so a later `ferry sync` resumes from it.
 * - `--backlog` (default auto) raises the source's repl-backlog-size for the sync and puts it back
 *   when the sync stops (the value found is kept in the --state file meanwhile; see core/backlog.ts).
 * - a second `ferry sync` with the same target (and `--state F`) resumes with PSYNC from the
 *   applied offset (+CONTINUE: no second full sync while the source's backlog covers the gap).
 */
import type { Command } from 'commander';
import { collect } from '../core/spec-from-flags.js';
import { type Endpoint, type TlsOptions, parseRedisUrl, tlsSocketOptions, toPublicUrl, withSentinelAuth } from '../core/endpoint.js';
import { InterruptedError, SafetyError, UsageError } from '../core/errors.js';
import type { FerryEvent } from '../core/events.js';
import { redactDeep } from '../core/redact.js';
import { parseBacklogFlag, parseDbMap } from '../core/spec-from-flags.js';
import { createProgressSink } from '../ui/progress-sink.js';

interface SyncFlags {
  from: string;
  to: string;
  state?: string;
  untilCaughtUp?: boolean;
  json?: boolean;
  include?: string[];
  exclude?: string[];
  dbMap?: string[];
  writer: string;
  replace?: boolean;
  flushTarget?: boolean;
  dropFieldTtl?: boolean;
  backlog: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsInsecure?: boolean;
}

export function register(program: Command): void {
  program
    .command('sync')
    .description('replicate a source into a target with the embedded engine (full sync, then follow)')
    .requiredOption('--from <url>', 'source master, redis://[user:pass@]host:port, or sentinel://[user:pass@]host:port[,host:port…]/MASTER-NAME (follows failovers)')
    .requiredOption('--to <url>', 'target server, redis://[user:pass@]host:port')
    .option('--state <file>', 'state file mirroring the applied offset (resume with the same flag)')
    .option('--until-caught-up', 'exit 0 once the target has applied everything the source has')
    .option('--json', 'one JSON event per line on stdout')
    .option('--include <glob>', 'only keys matching (repeatable)', collect)
    .option('--exclude <glob>', 'skip keys matching (repeatable)', collect)
    .option('--db-map <src:dst>', 'write source db SRC into target db DST (repeatable)', collect)
    .option('--writer <mode>', 'full-sync writer: auto, restore or commands', 'auto')
    .option('--replace', 'overwrite keys that already exist on the target')
    .option('--flush-target', 'FLUSHALL a non-empty target before the first full sync')
    .option('--drop-field-ttl', 'into a target without hash-field TTLs (before Redis 7.4), copy such fields without their TTL')
    .option('--backlog <auto|keep|size>', "the source's repl-backlog-size while syncing: auto (60 s of the measured writes, capped by memory), keep, or a size such as 64mb; put back when the sync stops", 'auto')
    .option('--tls-ca <file>', 'CA certificate for rediss:// URLs')
    .option('--tls-cert <file>', 'client certificate for rediss:// URLs')
    .option('--tls-key <file>', 'client key for rediss:// URLs')
    .option('--tls-insecure', 'do not verify TLS certificates')
    .action(async (flags: SyncFlags) => {
      await runSync(flags);
    });
}

async function runSync(flags: SyncFlags): Promise<void> {
  const from = withSentinelAuth(parseRedisUrl(flags.from, '--from'), process.env);
  const to = parseRedisUrl(flags.to, '--to');
  if (to.sentinel) throw new UsageError('--to: a sentinel:// URL is only for --from; give the target as redis://host:port');
  from.password ??= process.env.FERRY_FROM_PASSWORD;
  to.password ??= process.env.FERRY_TO_PASSWORD;
  if (!['auto', 'restore', 'commands'].includes(flags.writer)) {
    throw new UsageError(`--writer "${flags.writer}" must be auto, restore or commands`);
  }
  const dbMap = parseDbMap(flags.dbMap ?? []);
  const backlog = parseBacklogFlag(flags.backlog);
  const tls = { ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey, insecure: flags.tlsInsecure ?? false };
  tlsSocketOptions(tls); // an unreadable certificate file fails here, naming its flag
  await refuseSameServer(from, to, tls);
  const { SyncEngine } = await import('../engine/sync.js');
  const { ClusterSync, isClusterSource } = await import('../engine/cluster/orchestrator.js');
  const print = makePrinter(!!flags.json);
  const follow = from.sentinel ? await followSentinel(from, print) : undefined;
  // A cluster source: one engine link per master (engine/cluster/orchestrator.ts).
  const clusterSource = !follow && (await isClusterSource(from, tls));
  const Engine = clusterSource ? ClusterSync : SyncEngine;
  const engine = new Engine({
    resolveSource: follow?.resolve,
    from,
    to,
    statePath: flags.state,
    filter: { include: flags.include ?? [], exclude: flags.exclude ?? [], dbMap },
    writer: flags.writer as 'auto' | 'restore' | 'commands',
    replace: flags.replace,
    flushTarget: flags.flushTarget,
    dropFieldTtl: flags.dropFieldTtl,
    checkCompat: true,
    backlog,
    tls,
    emit: print,
  });
  print({ event: 'info', step: 'sync', message: `syncing ${toPublicUrl(from)} -> ${toPublicUrl(to)}` });
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    print({ event: 'info', step: 'sync', message: 'stopping: finishing the batch in flight and saving the state' });
    // NOTE: a cluster source keeps its checkpoints in the target at a Ctrl-C stop: its links
    // resume from there (the state file then only reports where each shard stood).
    void engine.stop({ removeCheckpoint: !!flags.state && !clusterSource }).catch(() => {});
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  follow?.onSwitch((why, to) => (engine as InstanceType<typeof SyncEngine>).relink(why, to));
  try {
    await engine.start();
    print({ event: 'info', step: 'sync', message: `writer: ${engine.choice.reason}` });
    if (flags.untilCaughtUp) {
      const caught = engine.waitCaughtUp(200, (applied, master) =>
        print({ event: 'progress', step: 'sync', phase: 'stream', done: applied, total: master, unit: 'offset', detail: { behind: master - applied } }),
      );
      // Whichever comes first: caught up, a fatal error, or a signal.
      await Promise.race([caught, engine.done()]);
      if (!interrupted) {
        const report = await engine.stop({ removeCheckpoint: true });
        print({ event: 'done', exitCode: 0, report: { ...report } });
        return;
      }
    }
    const report = await engine.done();
    if (interrupted) {
      const where = flags.state ? `state saved in ${flags.state}; resume with the same command` : 'the checkpoint stays in the target; run the same command to resume';
      print({ event: 'info', step: 'sync', message: `stopped at offset ${report.appliedOffset}; ${where}` });
      throw new InterruptedError(`interrupted at offset ${report.appliedOffset}; ${where}`);
    }
    print({ event: 'done', exitCode: 0, report: { ...report } });
  } finally {
    follow?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Refuses (exit 3) a source and a target that are one server, whatever their addresses (same
 * run_id, as `ferry run`'s preflight checks): the engine would replay the source's stream into
 * itself without end, and --flush-target would empty the source first (seen: a 3-key source left
 * with 0 keys). The connection errors (unreachable, password) are the same one-liners as the sync's.
 */
async function refuseSameServer(from: Endpoint, to: Endpoint, tls: TlsOptions): Promise<void> {
  const { connectEndpoint, info } = await import('../core/connect.js');
  const source = await connectEndpoint(from, { role: 'sync-check', flag: '--from', tls });
  try {
    const target = await connectEndpoint(to, { role: 'sync-check', flag: '--to', tls });
    try {
      const [s, t] = await Promise.all([info(source, 'server'), info(target, 'server')]);
      if (s.run_id && s.run_id === t.run_id) throw new SafetyError(`--from and --to are the same server (run_id ${s.run_id.slice(0, 8)}…); point --to at the target`);
    } finally {
      target.disconnect();
    }
  } finally {
    source.disconnect();
  }
}

/**
 * A `sentinel://` source: the engine asks the Sentinels for the master before every connection,
 * and a `+switch-master` from any Sentinel makes it drop its link at once and reconnect to the
 * announced master: the promoted replica continues the stream (psync2, replid2), also when the
 * old master streamed a data-neutral tail past the promotion (SyncEngine.rewindNeutralTail).
 */
async function followSentinel(from: Endpoint, print: (e: FerryEvent) => void) {
  const { resolveEndpoint, unresolved, watchSwitchMaster } = await import('../core/sentinel.js');
  let announced: Endpoint | null = null;
  let relink: ((why: string, to: { host: string; port: number }) => void) | undefined;
  const watch = watchSwitchMaster(from, (to) => {
    announced = { ...from, host: to.host, port: to.port };
    const why = `Sentinel switched ${from.sentinel!.name} to ${to.host}:${to.port}`;
    print({ event: 'info', step: 'sync', message: why });
    relink?.(why, to);
  });
  return {
    async resolve(): Promise<Endpoint> {
      const a = announced;
      announced = null;
      return a ?? resolveEndpoint(unresolved(from));
    },
    onSwitch(fn: (why: string, to: { host: string; port: number }) => void) {
      relink = fn;
    },
    close: () => watch.close(),
  };
}

/**
 * Events as JSON lines on stdout (--json, progress at most once per second), or on stderr for
 * people: progress bars on a terminal (a plain line at most once per second elsewhere) and short
 * human lines for the rest, written above the bars.
 */
function makePrinter(json: boolean): (e: FerryEvent) => void {
  let lastProgress = 0;
  const progress = json ? undefined : createProgressSink({ stream: process.stderr });
  return (e) => {
    const now = Date.now();
    const stamped = redactDeep({ ts: new Date(now).toISOString(), ...e }) as FerryEvent & { ts: string };
    if (progress) {
      progress.sink(stamped);
      if (e.event !== 'progress') progress.writeLine(humanLine(stamped));
      if (e.event === 'done' || e.event === 'failed') progress.stop();
      return;
    }
    if (e.event === 'progress') {
      if (now - lastProgress < 1000) return;
      lastProgress = now;
    }
    process.stdout.write(`${JSON.stringify(stamped)}\n`);
  };
}

function humanLine(e: FerryEvent): string {
  switch (e.event) {
    case 'warning':
      return `warning: ${e.message}`;
    case 'info':
      return e.message;
    case 'done':
      return `done: ${JSON.stringify(e.report)}`;
    case 'failed':
      return `failed: ${e.error}`;
    default:
      return JSON.stringify(e);
  }
}
