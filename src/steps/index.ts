/** The steps in the documented order (DESIGN.md). */
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
import type { Step } from './step.js';
import { verify } from './verify.js';

export const STEPS: readonly Step[] = [preflight, provision, replicate, converge, verify, openWrites, repoint, fence, promote, finalCheck, reparent, retire];
