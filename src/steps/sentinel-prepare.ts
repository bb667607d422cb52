/**
 * sentinel-prepare (only for `--from sentinel://…`): before the fence pauses the old master, make
 * sure the cutover's Sentinel step can do its work in the short time the pause allows.
 *
 * Both modes: every Sentinel (those of the URL and those preflight found) answers and still names
 * the master this run migrates from; else the step fails before anything changed.
 *
 * Native mode: the cutover sends `SENTINEL FAILOVER`, and Sentinel then promotes the replica that
 * sentinelSelectSlave (src/sentinel.c) picks: it skips replicas that are s_down, disconnected,
 * not heard from recently or have `slave_priority` 0, and takes the lowest priority, then the
 * largest offset, then the smallest run id. So the target must be a replica Sentinel knows (it
 * learns replicas from the master's INFO, every info-period = 10 s) with a priority above 0, and
 * every other replica must be out of the running: ferry sets `replica-priority 0` on them (the
 * old values are kept in the state and restored by the Sentinel step, or by rollback), and waits
 * until every Sentinel has read those priorities (each replica's own INFO, also every 10 s).
 */
import type { Redis } from 'ioredis';
import { connectEndpoint, info, parseInfoFields } from '../core/connect.js';
import { type Endpoint, hostPort } from '../core/endpoint.js';
import { StepError } from '../core/errors.js';
import { type Addr, type SentinelReplica, allSentinels, askMaster, connectSentinel, sameAddr, sentinelReplicas } from '../core/sentinel.js';
import { cmd, sleep, type PlanContext, type Progress, type Step, type StepContext } from './step.js';

/** state.data keys. */
export const SAVED_PRIORITIES = 'sentinel.savedPriorities';
export const KNOWN_REPLICAS = 'sentinel.replicas';

/** Longest wait for the Sentinels to see the target as a replica they may promote. */
const READY_TIMEOUT_MS = 45_000;

export const sentinelPrepare: Step = {
  id: 'sentinel-prepare',
  title: 'Make sure Sentinel can follow the cutover',
  describe(pc) {
    const name = pc.spec.from.sentinel!.name;
    const master = hostPort(pc.spec.from);
    const nodes = allSentinels(pc.spec.from, pc.facts.sentinel).map((n) => `sentinel ${hostPort(n)}`);
    const checks = nodes.map((on) => cmd(on, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name], `must still name ${master}; a Sentinel that does not answer fails the step before anything changes`));
    if (pc.spec.sync !== 'native') return checks;
    const t = `${pc.target.host}:${pc.target.port || '<port>'}`;
    return [
      ...checks,
      ...otherReplicasOf(pc).flatMap((r) => [
        cmd(`replica ${hostPort(r)}`, ['CONFIG', 'GET', 'replica-priority'], 'kept in the state file'),
        cmd(`replica ${hostPort(r)}`, ['CONFIG', 'SET', 'replica-priority', 0], 'so SENTINEL FAILOVER cannot pick it; restored in step sentinel'),
      ]),
      cmd('target', ['CONFIG', 'GET', 'replica-priority'], 'set to 100 (restored afterwards) only if it is 0'),
      ...nodes.map((on) => cmd(on, ['SENTINEL', 'REPLICAS', name], `repeat until it lists ${t} (priority > 0, link ok) and no other replica it could promote (at most ${READY_TIMEOUT_MS / 1000} s)`)),
    ];
  },
  async check() {
    return false; // read-mostly; running it again re-checks the Sentinels
  },
  async run(ctx, progress) {
    await assertSentinelsName(ctx, ctx.spec.from, 'sentinel-prepare');
    const replicas = await liveOtherReplicas(ctx);
    await ctx.save();
    if (ctx.spec.sync !== 'native') return { sentinels: allSentinels(ctx.spec.from, ctx.facts.sentinel).length, replicas: replicas.length };
    const excluded = await excludeOtherReplicas(ctx, replicas);
    await raiseTargetPriority(ctx);
    const waitedMs = await waitUntilPromotable(ctx, progress);
    return { excludedReplicas: excluded, waitedMs };
  },
  async undo(ctx) {
    await restorePriorities(ctx);
  },
};

/** The replicas of the old master other than the target: from its INFO and from every Sentinel. */
function otherReplicasOf(pc: PlanContext): Addr[] {
  const out: Addr[] = [];
  const add = (a: Addr) => {
    if (a.port > 0 && !isTarget(a, pc.target) && !out.some((b) => sameAddr(a, b))) out.push(a);
  };
  for (const r of pc.facts.source.replicas) add(r);
  for (const v of pc.facts.sentinel?.views ?? []) for (const r of v.replicas ?? []) if (!/disconnected|s_down/.test(r.flags)) add(r);
  return out;
}

/** True when `a` (as the master or Sentinel reports it) is the target. */
export function isTarget(a: Addr, target: Endpoint): boolean {
  return sameAddr(a, target);
}

/** Connects to every Sentinel; one that cannot be reached fails `stepId` (nothing changed yet). */
export async function connectAllSentinels(ctx: StepContext, stepId: 'sentinel-prepare' | 'sentinel'): Promise<Array<{ node: string; client: Redis }>> {
  const nodes = allSentinels(ctx.spec.from, ctx.facts.sentinel);
  const got = await Promise.all(
    nodes.map(async (n) => {
      try {
        return { node: hostPort(n), client: await connectSentinel(n, ctx.spec.from) };
      } catch (err) {
        return { node: hostPort(n), error: (err as Error).message };
      }
    }),
  );
  const bad = got.filter((g) => 'error' in g) as Array<{ node: string; error: string }>;
  const ok = got.filter((g) => 'client' in g) as Array<{ node: string; client: Redis }>;
  if (bad.length) {
    for (const g of ok) g.client.disconnect();
    const list = bad.map((b) => `${b.node} (${b.error})`).join(', ');
    throw new StepError(stepId, `Sentinel ${list} cannot be reached; every Sentinel of ${ctx.spec.from.sentinel!.name} must be repointed, so nothing was changed there: start it, then ferry resume`);
  }
  return ok;
}

/** Every Sentinel answers and names `master`. */
async function assertSentinelsName(ctx: StepContext, master: Addr, stepId: 'sentinel-prepare'): Promise<void> {
  const name = ctx.spec.from.sentinel!.name;
  const all = await connectAllSentinels(ctx, stepId);
  try {
    for (const { node, client } of all) {
      const m = await askMaster(client, name);
      if (!m || !sameAddr(m, master)) {
        throw new StepError(stepId, `Sentinel ${node} names ${m ? hostPort(m) : 'no master'} for ${name}, not ${hostPort(master)} where this migration started (a failover?); ferry does not cut over from a master Sentinel left: ferry rollback, then start again`);
      }
    }
  } finally {
    for (const { client } of all) client.disconnect();
  }
}

/** A replica's connection (it usually shares the master's credentials, as reparent assumes). */
export async function connectReplica(ctx: StepContext, a: Addr): Promise<Redis> {
  const e: Endpoint = { ...ctx.spec.from, sentinel: undefined, host: a.host, port: a.port };
  return connectEndpoint(e, { role: 'replica', flag: '--from', tls: ctx.spec.tls });
}

/** Live list of the old master's other replicas (INFO + every Sentinel), kept for reparent. */
async function liveOtherReplicas(ctx: StepContext): Promise<Addr[]> {
  const name = ctx.spec.from.sentinel!.name;
  const out: Addr[] = [];
  const add = (a: Addr) => {
    if (a.port > 0 && !isTarget(a, ctx.target) && !sameAddr(a, ctx.spec.from) && !out.some((b) => sameAddr(a, b))) out.push(a);
  };
  const i = await info(await ctx.sourceClient(), 'replication');
  for (const [k, v] of Object.entries(i)) {
    if (!/^slave\d+$/.test(k)) continue;
    const f = parseInfoFields(v);
    add({ host: f.ip, port: Number(f.port) });
  }
  for (const { client } of await connectAllSentinels(ctx, 'sentinel-prepare')) {
    try {
      for (const r of await sentinelReplicas(client, name)) if (!/disconnected|s_down/.test(r.flags)) add(r);
    } finally {
      client.disconnect();
    }
  }
  ctx.state.data[KNOWN_REPLICAS] = out;
  return out;
}

interface SavedPriority extends Addr {
  value: string;
}

function saved(ctx: StepContext): SavedPriority[] {
  return (ctx.state.data[SAVED_PRIORITIES] as SavedPriority[] | undefined) ?? [];
}

/** replica-priority 0 on every other replica (the old value saved first). */
async function excludeOtherReplicas(ctx: StepContext, replicas: Addr[]): Promise<number> {
  let n = 0;
  for (const r of replicas) {
    let c: Redis | undefined;
    try {
      c = await connectReplica(ctx, r);
      const [, value] = (await c.call('CONFIG', 'GET', 'replica-priority')) as string[];
      if (value !== '0') {
        if (!saved(ctx).some((s) => sameAddr(s, r))) ctx.state.data[SAVED_PRIORITIES] = [...saved(ctx), { host: r.host, port: r.port, value }];
        await ctx.save();
        await c.call('CONFIG', 'SET', 'replica-priority', '0');
        n++;
      }
    } catch (err) {
      if (err instanceof StepError) throw err;
      throw new StepError('sentinel-prepare', `cannot set replica-priority 0 on the replica ${hostPort(r)} (${(err as Error).message.split('\n')[0]}): SENTINEL FAILOVER could promote it instead of the target; fix it (or run CONFIG SET replica-priority 0 on it yourself), then ferry resume`);
    } finally {
      c?.disconnect();
    }
  }
  return n;
}

/** A target with replica-priority 0 could never be promoted: 100 (Redis' default) until the cutover. */
async function raiseTargetPriority(ctx: StepContext): Promise<void> {
  const t = await ctx.targetClient();
  const [, value] = (await t.call('CONFIG', 'GET', 'replica-priority')) as string[];
  if (value !== '0') return;
  const me = { host: ctx.target.host, port: ctx.target.port };
  if (!saved(ctx).some((s) => sameAddr(s, me))) ctx.state.data[SAVED_PRIORITIES] = [...saved(ctx), { ...me, value }];
  await ctx.save();
  await t.call('CONFIG', 'SET', 'replica-priority', '100');
}

/** Puts back every replica-priority ferry changed (best effort per server; warns on failure). */
export async function restorePriorities(ctx: StepContext): Promise<number> {
  let n = 0;
  const left: SavedPriority[] = [];
  for (const s of saved(ctx)) {
    let c: Redis | undefined;
    try {
      c = isTarget(s, ctx.target) ? undefined : await connectReplica(ctx, s);
      const conn = c ?? (await ctx.targetClient());
      await conn.call('CONFIG', 'SET', 'replica-priority', s.value);
      // NOTE: Sentinel's reconfiguration (SLAVEOF + CONFIG REWRITE, sentinelSendSlaveOf) wrote the
      // temporary value into the config file; write the restored one there too (a server
      // without a config file refuses CONFIG REWRITE: nothing to fix then).
      await conn.call('CONFIG', 'REWRITE').catch(() => {});
      n++;
    } catch (err) {
      left.push(s);
      ctx.warn(`could not restore replica-priority ${s.value} on ${hostPort(s)} (${(err as Error).message.split('\n')[0]}); run CONFIG SET replica-priority ${s.value} on it`);
    } finally {
      c?.disconnect();
    }
  }
  if (left.length) ctx.state.data[SAVED_PRIORITIES] = left;
  else delete ctx.state.data[SAVED_PRIORITIES];
  await ctx.save();
  return n;
}

/** Why a Sentinel could not promote the target now ('' = it could). */
export function promotableProblem(replicas: SentinelReplica[], target: Endpoint): string {
  const t = replicas.find((r) => isTarget(r, target));
  if (!t) return 'it does not list the target as a replica yet';
  if (/s_down|o_down|disconnected/.test(t.flags)) return `it sees the target as ${t.flags}`;
  if (t.priority <= 0) return 'it still reads replica-priority 0 on the target';
  if (!t.linkOk) return "the target's link to the master is down";
  const rival = replicas.find((r) => !isTarget(r, target) && r.port > 0 && r.priority > 0 && !/s_down|o_down|disconnected/.test(r.flags));
  if (rival) return `it could still promote ${hostPort(rival)} (priority ${rival.priority})`;
  return '';
}

/** Waits until every Sentinel could promote the target and nothing else. */
async function waitUntilPromotable(ctx: StepContext, progress: Progress): Promise<number> {
  const name = ctx.spec.from.sentinel!.name;
  const started = Date.now();
  const all = await connectAllSentinels(ctx, 'sentinel-prepare');
  try {
    for (;;) {
      const problems: string[] = [];
      for (const { node, client } of all) {
        const p = promotableProblem(await sentinelReplicas(client, name), ctx.target);
        if (p) problems.push(`${node}: ${p}`);
      }
      progress({ phase: 'sentinel', done: all.length - problems.length, total: all.length, unit: 'sentinels' });
      if (problems.length === 0) return Date.now() - started;
      if (Date.now() - started > READY_TIMEOUT_MS) {
        throw new StepError('sentinel-prepare', `after ${READY_TIMEOUT_MS / 1000} s the Sentinels still could not promote the target (${problems.join('; ')}); check that they reach ${ctx.target.host}:${ctx.target.port}, then ferry resume`);
      }
      await sleep(250, ctx.signal);
    }
  } finally {
    for (const { client } of all) client.disconnect();
  }
}
