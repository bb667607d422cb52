/**
 * replicate: the target starts following the source (the driver decides how). With
 * --flush-target the target's keys are deleted first (the full sync would replace them anyway;
 * making it explicit keeps both drivers honest).
 */
import { cmd, type Step } from './step.js';

export const replicate: Step = {
  id: 'replicate',
  title: 'Start replicating old → new',
  describe(pc) {
    const flush = pc.spec.flushTarget && (pc.facts.target?.keys ?? 0) > 0;
    return [...(flush ? [cmd('target', ['FLUSHALL'], `--flush-target: deletes the target's ${pc.facts.target?.keys} keys`)] : []), ...pc.driver.describe('replicate', pc)];
  },
  async check(ctx) {
    return ctx.driver.isReplicating(ctx);
  },
  async run(ctx) {
    if (ctx.spec.flushTarget && (ctx.facts.target?.keys ?? 0) > 0) await (await ctx.targetClient()).call('FLUSHALL');
    await ctx.driver.start(ctx);
  },
  async undo(ctx) {
    await ctx.driver.abort(ctx);
  },
};
