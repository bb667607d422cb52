/**
 * sentinel (only for `--from sentinel://…`): the cutover repoints every Sentinel at the new
 * master, while the fence's pause holds the old master's writes. It runs before promote in both
 * modes: in native mode Sentinel's own failover IS the promotion, and in engine mode the engine
 * keeps following the old master until every Sentinel is repointed, so a Sentinel that fails
 * here loses nothing (writes the old master takes after ferry unpauses it still reach the target,
 * and resume fences again before going on).
 *
 * - native (the target is a real replica): `SENTINEL FAILOVER NAME` on one Sentinel. Sentinel
 *   sends the target `REPLICAOF NO ONE` (+ CONFIG REWRITE + CLIENT KILL, sentinelSendSlaveOf),
 *   bumps the config epoch, reconfigures the other replicas and publishes `+switch-master`, and
 *   the other Sentinels follow through hello messages (by config epoch). sentinel-prepare made
 *   the target the only replica it may pick. As soon as the target is a master, ferry makes the
 *   old master its replica (a late write then fails loudly instead of being lost), disconnects the
 *   old master's clients, waits until every Sentinel names the target (one that still does not is
 *   repointed as in engine mode), and restores the replica priorities it changed.
 * - engine (the target is no replica, so Sentinel cannot fail over to it): on every Sentinel
 *   `SENTINEL REMOVE`, `SENTINEL MONITOR` the same name at the new master with the same quorum,
 *   and `SENTINEL SET` every recorded setting, auth-pass/auth-user included (REMOVE forgets them:
 *   redis/redis #9183). Each Sentinel's GET-MASTER-ADDR-BY-NAME must then name the new master. As
 *   MONITOR/REMOVE publish `+monitor`/`-monitor`, not `+switch-master`, the old master's normal
 *   clients are disconnected so that pools reconnect and ask Sentinel again.
 *
 * A Sentinel that cannot be reached fails the step with its address (before any change where
 * possible); `ferry resume` continues: Sentinels already repointed are checked, not redone.
 */
import type { Redis } from 'ioredis';
import { info } from '../core/connect.js';
import { hostPort } from '../core/endpoint.js';
import { StepError } from '../core/errors.js';
import { type SentinelSettings, SETTING_NAMES, allSentinels, askMaster, sentinelMaster, sentinelReplicas } from '../core/sentinel.js';
import { PAUSED_UNTIL } from './fence.js';
import { demoteOldMaster } from './retire.js';
import { connectAllSentinels, isTarget, promotableProblem, restorePriorities } from './sentinel-prepare.js';
import { SECRET, cmd, sleep, type PlanContext, type PlannedCommand, type Progress, type Step, type StepContext } from './step.js';

/** How long the Sentinels get to agree on the new master after the failover. */
const AGREE_TIMEOUT_MS = 30_000;
/** After this long a Sentinel that still names another master is repointed by ferry. */
const LAGGARD_MS = 12_000;

type Argv = Array<string | number | typeof SECRET>;

export const sentinel: Step = {
  id: 'sentinel',
  title: 'Repoint Sentinel to the new master',
  describe(pc) {
    return pc.spec.sync === 'native' ? describeFailover(pc) : describeMonitor(pc);
  },
  async check() {
    return false; // run() checks each Sentinel and does only what is missing
  },
  async run(ctx, progress) {
    return ctx.spec.sync === 'native' ? viaFailover(ctx, progress) : viaMonitor(ctx, progress);
  },
};

function nodesOf(pc: PlanContext): string[] {
  return allSentinels(pc.spec.from, pc.facts.sentinel).map(hostPort);
}

function targetAddr(pc: PlanContext): string {
  return `${pc.target.host}:${pc.target.port || '<port>'}`;
}

/** The settings preflight recorded for `node` (a Sentinel found later gets the first one's). */
function recordedFor(pc: PlanContext, node: string): SentinelSettings {
  const views = pc.facts.sentinel?.views ?? [];
  const v = views.find((x) => x.node === node && x.settings) ?? views.find((x) => x.settings);
  if (!v?.settings) throw new StepError('sentinel', `preflight recorded no Sentinel settings for ${pc.spec.from.sentinel!.name}; resume from the start`);
  return v.settings;
}

/** The engine-mode commands for one Sentinel (password as SECRET unless `password` is given). */
function monitorArgv(pc: PlanContext, settings: SentinelSettings, password?: string): Argv[] {
  const name = pc.spec.from.sentinel!.name;
  const t = pc.target;
  const set: Argv = ['SENTINEL', 'SET', name, ...SETTING_NAMES.flatMap((k) => [k, settings[k]])];
  if (t.username) set.push('auth-user', t.username);
  if (t.password) set.push('auth-pass', password ?? SECRET);
  return [['SENTINEL', 'REMOVE', name], ['SENTINEL', 'MONITOR', name, t.host, t.port || '<port>', settings.quorum], set];
}

function describeMonitor(pc: PlanContext): PlannedCommand[] {
  const name = pc.spec.from.sentinel!.name;
  const out: PlannedCommand[] = [];
  for (const node of nodesOf(pc)) {
    const on = `sentinel ${node}`;
    const [remove, monitor, set] = monitorArgv(pc, recordedFor(pc, node));
    out.push(cmd(on, remove, 'forgets the old master and its settings'), cmd(on, monitor, 'same name and quorum, at the new master'), cmd(on, set, 'every recorded setting, auth included'));
    out.push(cmd(on, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name], `must name ${targetAddr(pc)}; a Sentinel that cannot be reached fails the step (resume continues)`));
  }
  out.push(cmd('source', ['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'], 'pools reconnect and ask Sentinel, which names the new master (MONITOR publishes no +switch-master)'));
  return out;
}

function describeFailover(pc: PlanContext): PlannedCommand[] {
  const name = pc.spec.from.sentinel!.name;
  const nodes = nodesOf(pc);
  const t = pc.target;
  return [
    cmd(`sentinel ${nodes[0]}`, ['SENTINEL', 'FAILOVER', name], `on the first Sentinel that may promote ${targetAddr(pc)} (see sentinel-prepare); Sentinel sends it REPLICAOF NO ONE, bumps the config epoch, publishes +switch-master`),
    cmd('target', ['ROLE'], 'repeat until master (within the pause)'),
    ...(t.password ? [cmd('source', ['CONFIG', 'SET', 'masterauth', SECRET])] : []),
    cmd('source', ['REPLICAOF', t.host, t.port || '<port>'], 'at once: a late write to the old master fails loudly instead of being lost'),
    cmd('source', ['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'], 'pools reconnect and ask Sentinel'),
    ...nodes.map((n) => cmd(`sentinel ${n}`, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name], `repeat until it names ${targetAddr(pc)} (one that does not within ${LAGGARD_MS / 1000} s gets REMOVE/MONITOR/SET with its recorded settings)`)),
    cmd('replicas', ['CONFIG', 'SET', 'replica-priority', '<saved>'], 'the values sentinel-prepare changed, then CONFIG REWRITE'),
    ...pc.driver.describe('promote', pc),
    cmd('target', ['CONFIG', 'REWRITE'], "Sentinel's REWRITE stored the migration's replica-read-only; store the restored value"),
  ];
}

async function killOldClients(ctx: StepContext): Promise<number> {
  return Number(await (await ctx.sourceClient()).call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
}

function settingsMatch(m: Record<string, string>, want: SentinelSettings): boolean {
  return Number(m.quorum) === want.quorum && SETTING_NAMES.every((k) => Number(m[k]) === want[k]);
}

/** Engine-style repoint of one Sentinel (idempotent: a Sentinel already right is left alone). */
async function repointOne(ctx: StepContext, c: Redis, node: string): Promise<'repointed' | 'kept'> {
  const name = ctx.spec.from.sentinel!.name;
  const want = recordedFor(ctx, node);
  const cur = await askMaster(c, name);
  if (cur && isTarget(cur, ctx.target) && settingsMatch(await sentinelMaster(c, name), want)) return 'kept';
  for (const argv of monitorArgv(ctx, want, ctx.target.password)) {
    try {
      await c.call(...(argv.map(String) as [string, ...string[]]));
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0];
      if (argv[1] === 'REMOVE' && /no such master/i.test(msg)) continue;
      throw new StepError('sentinel', `Sentinel ${node} refused SENTINEL ${String(argv[1])} (${msg}); fix it, then ferry resume`);
    }
  }
  const now = await askMaster(c, name);
  if (!now || !isTarget(now, ctx.target)) throw new StepError('sentinel', `Sentinel ${node} names ${now ? hostPort(now) : 'no master'} for ${name} after MONITOR; check it, then ferry resume`);
  return 'repointed';
}

async function viaMonitor(ctx: StepContext, progress: Progress): Promise<Record<string, unknown>> {
  const all = await connectAllSentinels(ctx, 'sentinel');
  const result: Record<string, string> = {};
  try {
    let done = 0;
    for (const { node, client } of all) {
      result[node] = await repointOne(ctx, client, node);
      progress({ phase: 'sentinel', done: ++done, total: all.length, unit: 'sentinels' });
    }
  } finally {
    for (const { client } of all) client.disconnect();
  }
  const killed = await killOldClients(ctx);
  return { sentinels: result, disconnectedClients: killed };
}

/**
 * The target's role. NOTE: Sentinel promotes with MULTI, REPLICAOF NO ONE, CONFIG REWRITE, CLIENT
 * KILL TYPE normal, EXEC (sentinelSendSlaveOf), so ferry's own connection to the target can be
 * cut under a poll: that poll counts as "not yet", and the next one reconnects.
 */
async function targetRole(ctx: StepContext): Promise<string> {
  try {
    return (await info(await ctx.targetClient(), 'replication')).role;
  } catch {
    return '';
  }
}

/**
 * Sends SENTINEL FAILOVER to a Sentinel that may promote the target. The pause is renewed first
 * when less than half of it is left (Sentinel needs a few hundred ms to promote).
 */
async function startFailover(ctx: StepContext): Promise<string> {
  const name = ctx.spec.from.sentinel!.name;
  const left = Number(ctx.state.data[PAUSED_UNTIL] ?? 0) - Date.now();
  if (left < ctx.spec.pauseTimeoutMs / 2) {
    await (await ctx.sourceClient()).call('CLIENT', 'PAUSE', String(ctx.spec.pauseTimeoutMs), 'WRITE');
    ctx.state.data[PAUSED_UNTIL] = Date.now() + ctx.spec.pauseTimeoutMs;
    await ctx.save();
  }
  const all = await connectAllSentinels(ctx, 'sentinel');
  try {
    const problems: string[] = [];
    for (const { node, client } of all) {
      const p = promotableProblem(await sentinelReplicas(client, name), ctx.target);
      if (p) {
        problems.push(`${node}: ${p}`);
        continue;
      }
      try {
        await client.call('SENTINEL', 'FAILOVER', name);
      } catch (err) {
        const msg = (err as Error).message.split('\n')[0];
        // INPROG: a failover is already running (ours, sent before a resume): wait for it.
        if (!/INPROG/.test(msg)) throw new StepError('sentinel', `Sentinel ${node} refused SENTINEL FAILOVER ${name} (${msg}); nothing changed: ferry resume`);
      }
      return node;
    }
    throw new StepError('sentinel', `no Sentinel may promote the target now (${problems.join('; ')}); nothing changed: ferry resume`);
  } finally {
    for (const { client } of all) client.disconnect();
  }
}

async function viaFailover(ctx: StepContext, progress: Progress): Promise<Record<string, unknown>> {
  const name = ctx.spec.from.sentinel!.name;
  let failoverOn: string | undefined;
  let promotedMs: number | undefined;
  if ((await info(await ctx.targetClient(), 'replication')).role !== 'master') {
    const started = Date.now();
    failoverOn = await startFailover(ctx);
    ctx.info(`SENTINEL FAILOVER ${name} sent to ${failoverOn}`);
    const deadline = Number(ctx.state.data[PAUSED_UNTIL] ?? Date.now() + ctx.spec.pauseTimeoutMs) - 200;
    while ((await targetRole(ctx)) !== 'master') {
      if (Date.now() > deadline) {
        throw new StepError('sentinel', `Sentinel ${failoverOn} did not promote the target within the pause; check its log (the failover may still finish), then ferry resume`);
      }
      await sleep(20, ctx.signal);
    }
    promotedMs = Date.now() - started;
  }
  // The target is the master: from here on, the old master must not take a write.
  await demoteOldMaster(ctx);
  const killed = await killOldClients(ctx);
  const agreed = await waitAllName(ctx, progress);
  const restored = await restorePriorities(ctx);
  await ctx.driver.stop(ctx);
  await (await ctx.targetClient()).call('CONFIG', 'REWRITE').catch(() => {});
  return { failoverOn, promotedMs, disconnectedClients: killed, sentinels: agreed, restoredPriorities: restored };
}

/** Waits until every Sentinel names the target; repoints one that has not after LAGGARD_MS. */
async function waitAllName(ctx: StepContext, progress: Progress): Promise<Record<string, string>> {
  const name = ctx.spec.from.sentinel!.name;
  const started = Date.now();
  const all = await connectAllSentinels(ctx, 'sentinel');
  const result: Record<string, string> = {};
  try {
    for (;;) {
      const waiting: string[] = [];
      for (const { node, client } of all) {
        if (result[node]) continue;
        const m = await askMaster(client, name);
        if (m && isTarget(m, ctx.target)) result[node] = 'failed over';
        else if (Date.now() - started > LAGGARD_MS) result[node] = await repointOne(ctx, client, node);
        else waiting.push(`${node} names ${m ? hostPort(m) : 'nothing'}`);
      }
      progress({ phase: 'sentinel', done: Object.keys(result).length, total: all.length, unit: 'sentinels' });
      if (waiting.length === 0) return result;
      if (Date.now() - started > AGREE_TIMEOUT_MS) throw new StepError('sentinel', `the Sentinels do not all name the new master (${waiting.join('; ')}); ferry resume`);
      await sleep(100, ctx.signal);
    }
  } catch (err) {
    if (err instanceof StepError) throw err;
    throw new StepError('sentinel', `a Sentinel stopped answering (${(err as Error).message.split('\n')[0]}) after the failover; the target is the master: start the Sentinel, then ferry resume`);
  } finally {
    for (const { client } of all) client.disconnect();
  }
}
