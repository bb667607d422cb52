/** promote: the new instance stops following the old master and becomes a master (driver.stop). */
import type { Step } from './step.js';

export const promote: Step = {
  id: 'promote',
  title: 'Promote the new instance',
  describe(pc) {
    return pc.driver.describe('promote', pc);
  },
  async check(ctx) {
    return ctx.driver.isPromoted(ctx);
  },
  async run(ctx) {
    await ctx.driver.stop(ctx);
    return { finalOffset: ctx.state.cutover.finalOffset };
  },
};
