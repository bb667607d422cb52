/**
 * preflight: reads both servers (versions, roles, keys, memory, config, write rate) and applies
 * the safety checks. Read-only; a refusal is a SafetyError (exit 3) naming the fix.
 */
import { SafetyError } from '../core/errors.js';
import { toPublicUrl } from '../core/endpoint.js';
import { CONFIG_KEYS, gatherFacts } from '../core/facts.js';
import { assertCanStart } from '../core/provision-server.js';
import { requiredPermissions } from '../core/permissions.js';
import { assess } from '../core/safety.js';
import { cmd, type Step } from './step.js';

export const preflight: Step = {
  id: 'preflight',
  title: 'Check both servers',
  describe(pc) {
    const attach = pc.spec.to.kind === 'attach';
    return [
      cmd('source', ['INFO', 'all']),
      cmd('source', ['CONFIG', 'GET', ...CONFIG_KEYS]),
      cmd('source', ['INFO', 'replication'], 'twice, 1 s apart: the write rate'),
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
    const facts = await gatherFacts(source, toPublicUrl(ctx.spec.from), target, toPublicUrl(ctx.target), 1000, requiredPermissions(ctx.spec));
    ctx.state.facts = facts;
    if (ctx.state.target && facts.target) ctx.state.target.runId = facts.target.runId;
    const { refusals, warnings } = assess(ctx.spec, facts);
    for (const w of warnings) ctx.warn(w);
    if (refusals.length > 0) throw new SafetyError(refusals[0]);
    return { sourceKeys: facts.source.keys, sourceVersion: facts.source.version, writeRateBytesPerSec: Math.round(facts.writeRateBytesPerSec) };
  },
};
