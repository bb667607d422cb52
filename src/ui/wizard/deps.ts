/**
 * The wizard's real dependencies: the same connection helper, spec builder, plan builder and
 * runner as `ferry plan` / `ferry run`, so the wizard cannot drift from the flags.
 */
import { connectEndpoint, info, parseInfoFields } from '../../core/connect.js';
import { hostPort, parseRedisUrl, withSentinelAuth } from '../../core/endpoint.js';
import { resolveEndpoint } from '../../core/sentinel.js';
import { makePlan } from '../../core/plan.js';
import { runMigration } from '../../core/runner.js';
import { specFromFlags } from '../../core/spec-from-flags.js';
import { pickFreePort } from '../../core/provision-server.js';
import { paletteFor } from '../colors.js';
import { renderPlan } from '../plan-render.js';
import type { ServerSummary, WizardDeps } from './types.js';

/** Reads what the wizard shows about a server (INFO only: nothing is changed). */
export async function probeServer(url: string, which: '--from' | '--to', env: NodeJS.ProcessEnv = process.env): Promise<ServerSummary> {
  const parsed = withSentinelAuth(parseRedisUrl(url, which), env);
  const envPassword = which === '--from' ? env.FERRY_FROM_PASSWORD : env.FERRY_TO_PASSWORD;
  // NOTE: a sentinel:// URL is resolved here, once, to show which master the Sentinels name.
  const endpoint = await resolveEndpoint(parsed.password || !envPassword ? parsed : { ...parsed, password: envPassword });
  const client = await connectEndpoint(endpoint, { role: 'wizard', flag: which, connectTimeoutMs: 3000 });
  try {
    const i = await info(client, 'all');
    let keys = 0;
    for (const [k, v] of Object.entries(i)) if (/^db\d+$/.test(k)) keys += Number(parseInfoFields(v).keys ?? 0);
    return {
      version: i.redis_version ?? 'unknown',
      role: i.role === 'slave' ? 'replica' : (i.role ?? 'unknown'),
      keys,
      usedMemory: Number(i.used_memory ?? 0),
      // NOTE: minus the wizard's own connection.
      connectedClients: Math.max(0, Number(i.connected_clients ?? 1) - 1),
      ...(endpoint.sentinel ? { via: `Sentinel ${endpoint.sentinel.name} (${endpoint.sentinel.nodes.length} Sentinels) → ${hostPort(endpoint)}` } : {}),
    };
  } finally {
    client.disconnect();
  }
}

/** The real implementations. */
export const realDeps: WizardDeps = {
  probe: (url, which) => probeServer(url, which),
  buildSpec: (flags) => specFromFlags(flags),
  async plan(spec) {
    const plan = await makePlan(spec);
    return { text: renderPlan(plan, paletteFor(process.stdout)), refusal: plan.findings.refusals[0] };
  },
  async run(spec, { bus, signal, confirm }) {
    // NOTE: the operator confirmed the plan in the wizard: the runner does not ask a second time.
    await runMigration(spec, { yes: false, bus, signal, confirm, confirmed: true });
  },
  freePort: () => pickFreePort('127.0.0.1'),
};
