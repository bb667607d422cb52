/**
 * open-writes: clients repointed to the new instance may write before it is promoted
 * (native: replica-read-only no). The driver remembers what it changed; undo puts it back.
 */
import type { Step } from './step.js';

export const openWrites: Step = {
  id: 'open-writes',
  title: 'Let the new instance accept writes',
  describe(pc) {
    return pc.driver.describe('open-writes', pc);
  },
  async check() {
    return false; // idempotent: the driver's openWrites may run twice
  },
  async run(ctx) {
    await ctx.driver.openWrites(ctx);
  },
  async undo(ctx) {
    await ctx.driver.closeWrites(ctx);
  },
};
