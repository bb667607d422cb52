/** The steps in the documented order (DESIGN.md). */
import { backlog } from './backlog.js';
import { converge } from './converge.js';
import { fence } from './fence.js';
import { finalCheck } from './final-check.js';
import { openWrites } from './open-writes.js';
import { preflight } from './preflight.js';
import { promote } from './promote.js';
import { provision } from './provision.js';
import { reparent } from './reparent.js';
import { replicate } from './replicate.js';
import { repoint } from './repoint.js';
import { retire } from './retire.js';
import { sentinelPrepare } from './sentinel-prepare.js';
import { sentinel } from './sentinel.js';
import { stepIdsFor, type Step } from './step.js';
import { verify } from './verify.js';

export const STEPS: readonly Step[] = [preflight, provision, backlog, replicate, converge, verify, openWrites, repoint, sentinelPrepare, fence, sentinel, promote, finalCheck, reparent, retire];

/** The steps of `spec`'s migration (the Sentinel steps only for a `sentinel://` source). */
export function stepsFor(spec: { from: { sentinel?: unknown } }): Step[] {
  const ids = stepIdsFor(spec);
  return STEPS.filter((s) => ids.includes(s.id));
}
