/**
 * Preflight's judgement of a master behind Sentinel (pure, like safety.ts, which calls it).
 *
 * Refused (exit 3), because the cutover could not repoint Sentinel exactly or Sentinel could fight
 * the migration:
 * - a Sentinel that cannot be reached, does not monitor the name, or names another master: every
 *   Sentinel must be repointed (`MONITOR`/`REMOVE`/`SET` act only on the Sentinel they are sent
 *   to, and one left behind can spread the old configuration back through hello messages when
 *   its config epoch is higher: sentinelProcessHelloMessage);
 * - the quorum not reachable (`SENTINEL CKQUORUM`), the master down or a failover in progress;
 * - `--pause-timeout` not below `down-after-milliseconds`: while ferry's `CLIENT PAUSE WRITE`
 *   holds, Sentinel's hello `PUBLISH` to the master is postponed (PUBLISH is a may-replicate
 *   command, server.c processCommand) and the `PING`s queued behind it go unanswered, so Sentinel
 *   flags the master s_down after down-after-milliseconds and may fail it over mid-fence
 *   (sentinelCheckSubjectivelyDown; seen here: a 5 s pause with 2 s down-after started a failover);
 * - engine mode with a notification-script or client-reconfig-script: `REMOVE` drops them and
 *   `SET` may not restore them (deny-scripts-reconfig, on by default: sentinelSetCommand);
 * - engine mode with a target given by host name: `SENTINEL MONITOR` takes an IP address unless
 *   the Sentinels run with resolve-hostnames yes;
 * - a source before Redis 6.2: its fence pauses every client (no `CLIENT PAUSE … WRITE`), which
 *   would also hold the commands the Sentinel step sends the old master (demote it, disconnect its
 *   clients) until the pause ends, when its clients' writes run too.
 */
import { isIP } from 'node:net';
import { hasWritePause } from './compat.js';
import type { Facts } from './facts.js';
import type { MigrationSpec } from './spec.js';

/** Refusals and advice about the Sentinels (empty without a sentinel:// source). */
export function sentinelFindings(spec: MigrationSpec, f: Facts): { refusals: string[]; warnings: string[] } {
  const refusals: string[] = [];
  const warnings: string[] = [];
  const sf = f.sentinel;
  if (!spec.from.sentinel || !sf) return { refusals, warnings };
  const name = sf.name;
  for (const v of sf.views) {
    if (!v.reachable) refusals.push(`Sentinel ${v.node} of ${name} cannot be reached (${v.error}); every Sentinel must be repointed at the cutover: start it, or take it out of the group (SENTINEL RESET ${name} on the others)`);
    else if (v.error) refusals.push(`Sentinel ${v.node} ${v.error}; check the master name in --from`);
  }
  const answers = new Map<string, string[]>();
  for (const v of sf.views) if (v.master) answers.set(v.master, [...(answers.get(v.master) ?? []), v.node]);
  if (answers.size > 1) {
    const who = [...answers].map(([m, nodes]) => `${nodes.join(', ')} name ${m}`).join('; ');
    refusals.push(`the Sentinels disagree about ${name} (${who}); wait until they agree (a failover may be under way), then run again`);
  }
  for (const v of sf.views) {
    if (v.quorumOk === false) refusals.push(`Sentinel ${v.node}: the quorum of ${name} is not reachable (${v.quorumMessage}); fix the Sentinels first`);
    if (v.flags && /failover_in_progress/.test(v.flags)) refusals.push(`Sentinel ${v.node} is failing ${name} over right now; wait until it is done, then run again`);
    else if (v.flags && /o_down|s_down/.test(v.flags)) refusals.push(`Sentinel ${v.node} sees ${name} down (${v.flags}); fix the master or the Sentinel (auth-pass?) first`);
  }
  if (!hasWritePause(f.source)) {
    refusals.push(`the source runs Redis ${f.source.version}: behind Sentinel ferry needs CLIENT PAUSE … WRITE (Redis 6.2+) at the cutover, so that it can still send the old master commands while its writes wait; upgrade the source first`);
  }
  const downAfter = Math.min(...sf.views.map((v) => v.settings?.['down-after-milliseconds'] ?? Infinity));
  if (Number.isFinite(downAfter) && spec.pauseTimeoutMs >= downAfter) {
    refusals.push(`--pause-timeout ${spec.pauseTimeoutMs} is not below Sentinel's down-after-milliseconds ${downAfter} for ${name}: a master paused that long looks down to Sentinel, which would fail it over during the cutover; lower --pause-timeout (e.g. ${Math.max(100, Math.floor(downAfter / 2))})`);
  }
  if (spec.sync === 'engine') {
    const scripted = sf.views.filter((v) => v.scripts?.length);
    if (scripted.length) {
      refusals.push(`Sentinel ${scripted[0].node} runs ${scripted[0].scripts!.join(' and ')} for ${name}: the engine's repoint (SENTINEL REMOVE + MONITOR) drops it and SENTINEL SET may not restore it; use --sync native (SENTINEL FAILOVER keeps every setting)`);
    }
    const host = spec.to.kind === 'attach' ? spec.to.endpoint.host : spec.to.host;
    if (!isIP(host)) refusals.push(`--to host "${host}" is a name: SENTINEL MONITOR needs the new master's IP address; give --to as an IP (e.g. redis://127.0.0.1:port)`);
    warnings.push(`Sentinel: the engine repoints ${name} with SENTINEL REMOVE + MONITOR + SET on each Sentinel, which publishes -monitor/+monitor, not +switch-master; clients that only listen for +switch-master move when ferry disconnects them from the old master`);
  } else if (spec.retire === 'keep') {
    warnings.push(`--retire keep: after its failover Sentinel makes the old master a replica of the new one anyway`);
  }
  return { refusals, warnings };
}
