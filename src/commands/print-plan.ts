/** Shared by `ferry plan` and `ferry run --dry-run`. */
import { SafetyError } from '../core/errors.js';
import { makePlan } from '../core/plan.js';
import { type MigrationFlags, specFromFlags } from '../core/spec-from-flags.js';
import { paletteFor } from '../ui/colors.js';
import { renderPlan } from '../ui/plan-render.js';

/** Builds the plan from flags and prints it; a refusal then exits 3 (after the plan is shown). */
export async function printPlan(flags: MigrationFlags & { json?: boolean }): Promise<void> {
  const plan = await makePlan(specFromFlags(flags));
  process.stdout.write(flags.json ? `${JSON.stringify(plan, null, 2)}\n` : renderPlan(plan, paletteFor(process.stdout)));
  if (plan.findings.refusals.length > 0) throw new SafetyError(plan.findings.refusals[0]);
}
