/**
 * reparent: every other replica of the old master follows the new one (`REPLICAOF new`). A
 * replica ferry cannot reach is reported with the command to run by hand; it does not fail the
 * migration (the new master already serves all writes).
 */
import { connectEndpoint } from '../core/connect.js';
import { otherReplicas } from '../core/facts.js';
import { type Addr, sameAddr } from '../core/sentinel.js';
import { KNOWN_REPLICAS } from './sentinel-prepare.js';
import { SECRET, cmd, type PlanContext, type Step, type StepContext } from './step.js';

/**
 * The replicas to move: the old master's (preflight's INFO) and, behind Sentinel, every replica a
 * Sentinel knows for it (also one that was disconnected from the old master at preflight), as
 * sentinel-prepare listed them live. Never the target, the old master itself, or port 0 (the
 * engine's own link shows up in the old master's INFO with port 0).
 */
export function replicasToMove(pc: PlanContext, ctx?: StepContext): Addr[] {
  const out: Addr[] = [];
  const add = (a: Addr) => {
    if (a.port > 0 && !sameAddr(a, pc.target) && !sameAddr(a, pc.spec.from) && !out.some((b) => sameAddr(a, b))) out.push(a);
  };
  for (const r of otherReplicas(pc.facts, pc.target.port)) add(r);
  for (const v of pc.facts.sentinel?.views ?? []) for (const r of v.replicas ?? []) if (!/disconnected|s_down/.test(r.flags)) add(r);
  for (const r of (ctx?.state.data[KNOWN_REPLICAS] as Addr[] | undefined) ?? []) add(r);
  return out;
}

export const reparent: Step = {
  id: 'reparent',
  title: 'Point the other replicas at the new master',
  describe(pc) {
    return replicasToMove(pc).flatMap((r) => {
      const on = `replica ${r.host}:${r.port}`;
      return [
        ...(pc.target.password ? [cmd(on, ['CONFIG', 'SET', 'masterauth', SECRET])] : []),
        cmd(on, ['REPLICAOF', pc.target.host, pc.target.port || '<port>']),
      ];
    });
  },
  async check() {
    return false; // REPLICAOF to the same master is a no-op: running again is harmless
  },
  async run(ctx) {
    const replicas = replicasToMove(ctx, ctx);
    let moved = 0;
    for (const r of replicas) {
      if (await moveReplica(ctx, r.host, r.port)) moved++;
    }
    return { replicas: replicas.length, moved };
  },
};

async function moveReplica(ctx: StepContext, host: string, port: number): Promise<boolean> {
  // NOTE: a replica of a password-protected master usually shares its credentials; try those.
  const endpoint = { ...ctx.spec.from, sentinel: undefined, host, port };
  try {
    const c = await connectEndpoint(endpoint, { role: 'replica', flag: '--from', tls: ctx.spec.tls });
    try {
      if (ctx.target.password) await c.call('CONFIG', 'SET', 'masterauth', ctx.target.password);
      await c.call('REPLICAOF', ctx.target.host, String(ctx.target.port));
    } finally {
      c.disconnect();
    }
    return true;
  } catch (err) {
    ctx.warn(`could not reparent the replica ${host}:${port} (${(err as Error).message}); run REPLICAOF ${ctx.target.host} ${ctx.target.port} on it`);
    return false;
  }
}
