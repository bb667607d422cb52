/**
 * The plan: every step with the exact commands it would send to which server, plus preflight's
 * findings. `buildPlan` is pure (STYLE.md #2); `makePlan` connects, reads the facts and builds it.
 * `ferry plan` and `ferry run --dry-run` print it and change nothing.
 */
import type { Redis } from 'ioredis';
import { backlogInputs, decideBacklog } from './backlog.js';
import { connectEndpoint } from './connect.js';
import { type Endpoint, describeEndpoint, toPublicUrl } from './endpoint.js';
import { type Facts, gatherFacts } from './facts.js';
import { assertCanStart } from './provision-server.js';
import { redactDeep } from './redact.js';
import { requiredPermissions } from './permissions.js';
import { assess } from './safety.js';
import { gatherSentinelFacts, resolveEndpoint } from './sentinel.js';
import { KeyFilter } from '../engine/apply/filter.js';
import type { MigrationSpec } from './spec.js';
import { driverFor } from '../drivers/index.js';
import type { ReplicationDriver } from '../drivers/driver.js';
import { stepsFor } from '../steps/index.js';
import type { PlannedCommand, StepId } from '../steps/step.js';

export const PLAN_VERSION = 1;

/** A plan as printed by `ferry plan --json`. */
export interface Plan {
  version: typeof PLAN_VERSION;
  sync: MigrationSpec['sync'];
  source: string;
  target: string;
  findings: { refusals: string[]; warnings: string[] };
  facts: {
    source: { version: string; role: string; keys: number; usedMemory: number };
    target: { version: string; role: string; keys: number; usedMemory: number } | null;
    writeRateBytesPerSec: number;
  };
  /** What the backlog step will do to the source's repl-backlog-size, with the numbers (bytes, s). */
  backlog: { policy: string; current: number | null; set: number | null; writeRate: number; windowSec: number; wanted?: number; cap?: number; capRule?: string; coversSec: number | null; why: string };
  steps: Array<{ id: StepId; title: string; commands: PlannedCommand[] }>;
  /** For a sentinel:// source: the master's name and each Sentinel's answer and settings. */
  sentinel?: { name: string; master: string; sentinels: Array<{ node: string; reachable: boolean; master?: string; settings?: Record<string, number>; authPassPresent?: boolean; error?: string }> };
}

/** The target's address: the URL, or host + the chosen port (0 = picked at run time) for `start`. */
export function targetEndpoint(spec: MigrationSpec, chosenPort?: number): Endpoint {
  if (spec.to.kind === 'attach') return spec.to.endpoint;
  // NOTE: a started target requires the same password as the source unless FERRY_TO_PASSWORD
  // says otherwise, so repointed clients keep working with the credentials they have.
  return { host: spec.to.host, port: spec.to.port ?? chosenPort ?? 0, db: 0, password: spec.to.password ?? spec.from.password, tls: false };
}

/** Builds the plan from the spec and what preflight read. Pure. */
export function buildPlan(spec: MigrationSpec, facts: Facts, driver: ReplicationDriver, target: Endpoint = targetEndpoint(spec)): Plan {
  const pc = { spec, facts, driver, target };
  const b = decideBacklog(spec.backlog, backlogInputs(facts));
  const summary = (f: Facts['source'] | null) => (f ? { version: f.version, role: f.role, keys: f.keys, usedMemory: f.usedMemory } : null);
  const plan: Plan = {
    version: PLAN_VERSION,
    sync: spec.sync,
    source: describeEndpoint(spec.from),
    target: spec.to.kind === 'attach' ? toPublicUrl(spec.to.endpoint) : `start redis-server on ${target.host}:${target.port || '<free port>'}`,
    findings: assess(spec, facts),
    facts: { source: summary(facts.source)!, target: summary(facts.target), writeRateBytesPerSec: Math.round(facts.writeRateBytesPerSec) },
    backlog: { policy: b.policy, current: b.current, set: b.set, writeRate: Math.round(b.writeRate), windowSec: b.windowSec, wanted: b.wanted, cap: b.cap?.bytes, capRule: b.cap?.rule, coversSec: b.coversSec, why: b.why },
    steps: stepsFor(spec).map((s) => ({ id: s.id, title: s.title, commands: s.describe(pc) })),
  };
  if (facts.sentinel) {
    plan.sentinel = {
      name: facts.sentinel.name,
      master: facts.sentinel.master,
      sentinels: facts.sentinel.views.map((v) => ({ node: v.node, reachable: v.reachable, master: v.master, settings: v.settings as Record<string, number> | undefined, authPassPresent: v.authPassPresent, error: v.error })),
    };
  }
  return redactDeep(plan);
}

/** Connects to the servers (read-only), reads the facts and builds the plan. */
export async function makePlan(given: MigrationSpec): Promise<Plan> {
  const spec = given.from.sentinel ? { ...given, from: await resolveEndpoint(given.from) } : given;
  const driver = await driverFor(spec.sync);
  const target = targetEndpoint(spec);
  let source: Redis | undefined;
  let tclient: Redis | undefined;
  try {
    if (spec.to.kind === 'start') await assertCanStart(target);
    source = await connectEndpoint(spec.from, { role: 'source', flag: '--from', tls: spec.tls });
    tclient = spec.to.kind === 'attach' ? await connectEndpoint(target, { role: 'target', flag: '--to', tls: spec.tls }) : undefined;
    const filter = new KeyFilter({ include: spec.include, exclude: spec.exclude });
    const facts = await gatherFacts(source, describeEndpoint(spec.from), tclient ?? null, toPublicUrl(target), 1000, (k) => filter.keyPasses(k), requiredPermissions(spec));
    if (spec.from.sentinel) facts.sentinel = await gatherSentinelFacts(spec.from, spec.from);
    return buildPlan(spec, facts, driver, target);
  } finally {
    source?.disconnect();
    tclient?.disconnect();
    await driver.close();
  }
}
