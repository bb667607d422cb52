/**
 * preflight: reads both servers (versions, roles, keys, memory, config, write rate) and applies
 * the safety checks. Read-only; a refusal is a SafetyError (exit 3) naming the fix.
 */
import { SafetyError } from '../core/errors.js';
import { describeEndpoint, hostPort, toPublicUrl } from '../core/endpoint.js';
import { CONFIG_KEYS, gatherFacts } from '../core/facts.js';
import { assertCanStart } from '../core/provision-server.js';
import { requiredPermissions } from '../core/permissions.js';
import { assess } from '../core/safety.js';
import { allSentinels, gatherSentinelFacts } from '../core/sentinel.js';
import { KeyFilter } from '../engine/apply/filter.js';
import { cmd, type Step } from './step.js';

export const preflight: Step = {
  id: 'preflight',
  title: 'Check both servers',
  describe(pc) {
    const attach = pc.spec.to.kind === 'attach';
    return [
      cmd('source', ['INFO', 'all']),
      cmd('source', ['CONFIG', 'GET', ...CONFIG_KEYS]),
      cmd('source', ['FUNCTION', 'LIST'], 'and MODULE LIST: what the target must be able to hold (SCAN + TYPE only when it lacks a module)'),
      cmd('source', ['INFO', 'replication'], 'twice, 1 s apart: the write rate'),
      ...sentinelReads(pc),
      ...(attach ? [cmd('target', ['INFO', 'all']), cmd('target', ['CONFIG', 'GET', ...CONFIG_KEYS])] : [cmd('local', ['check', `port ${pc.target.port || '(free)'} is free`, 'and redis-server runs'])]),
    ];
  },
  async check() {
    return false; // read-only: running it again is always right
  },
  async run(ctx) {
    if (ctx.spec.to.kind === 'start' && !ctx.state.target?.pid) await assertCanStart(ctx.target);
    const source = await ctx.sourceClient();
    const target = ctx.spec.to.kind === 'attach' ? await ctx.targetClient() : null;
    const filter = new KeyFilter({ include: ctx.spec.include, exclude: ctx.spec.exclude });
    const facts = await gatherFacts(source, describeEndpoint(ctx.spec.from), target, toPublicUrl(ctx.target), 1000, (k) => filter.keyPasses(k), requiredPermissions(ctx.spec));
    if (ctx.spec.from.sentinel) facts.sentinel = await gatherSentinelFacts(ctx.spec.from, ctx.spec.from);
    ctx.state.facts = facts;
    if (ctx.state.target && facts.target) ctx.state.target.runId = facts.target.runId;
    const { refusals, warnings } = assess(ctx.spec, facts);
    for (const w of warnings) ctx.warn(w);
    if (refusals.length > 0) throw new SafetyError(refusals[0]);
    return { sourceKeys: facts.source.keys, sourceVersion: facts.source.version, writeRateBytesPerSec: Math.round(facts.writeRateBytesPerSec) };
  },
};

/** What preflight asks every Sentinel of a sentinel:// source (read-only). */
function sentinelReads(pc: Parameters<Step['describe']>[0]) {
  const s = pc.spec.from.sentinel;
  if (!s) return [];
  const nodes = allSentinels(pc.spec.from, pc.facts.sentinel);
  return nodes.flatMap((n) => {
    const on = `sentinel ${hostPort(n)}`;
    return [
      cmd(on, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', s.name], 'every Sentinel must name the same master'),
      cmd(on, ['SENTINEL', 'MASTER', s.name], 'settings recorded in the state file: quorum, down-after-milliseconds, failover-timeout, parallel-syncs'),
      cmd(on, ['SENTINEL', 'REPLICAS', s.name]),
      cmd(on, ['SENTINEL', 'SENTINELS', s.name], 'Sentinels found here are checked too'),
      cmd(on, ['SENTINEL', 'CKQUORUM', s.name], 'the quorum must be reachable'),
    ];
  });
}
