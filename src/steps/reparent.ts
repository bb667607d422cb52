/**
 * reparent: every other replica of the old master follows the new one (`REPLICAOF new`). A
 * replica ferry cannot reach is reported with the command to run by hand; it does not fail the
 * migration (the new master already serves all writes).
 */
import { connectEndpoint } from '../core/connect.js';
import { otherReplicas } from '../core/facts.js';
import { SECRET, cmd, type Step, type StepContext } from './step.js';

export const reparent: Step = {
  id: 'reparent',
  title: 'Point the other replicas at the new master',
  describe(pc) {
    return otherReplicas(pc.facts, pc.target.port).flatMap((r) => {
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
    const replicas = otherReplicas(ctx.facts, ctx.target.port);
    let moved = 0;
    for (const r of replicas) {
      if (await moveReplica(ctx, r.host, r.port)) moved++;
    }
    return { replicas: replicas.length, moved };
  },
};

async function moveReplica(ctx: StepContext, host: string, port: number): Promise<boolean> {
  // NOTE: a replica of a password-protected master usually shares its credentials; try those.
  const endpoint = { ...ctx.spec.from, host, port };
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
