/**
 * The runner: walks the steps in order, persists the state file after every transition, and
 * turns whatever goes wrong into the documented exit codes. Resume is the same walk over a loaded
 * state: done steps are skipped, the others are asked `check()` first, so nothing is done twice.
 *
 * Test-only hook: FERRY_TEST_KILL_AFTER=<step id> makes the process SIGKILL itself right after the
 * state recording that step as done is on disk (to prove resume works at every step boundary).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { connectEndpoint } from './connect.js';
import { type Endpoint, hostPort } from './endpoint.js';
import { ExitCode, FerryError, InterruptedError, StepError, UsageError, exitCodeOf } from './errors.js';
import type { EventBus, FerryEvent } from './events.js';
import type { Facts } from './facts.js';
import { targetEndpoint } from './plan.js';
import { pickFreePort } from './provision-server.js';
import { resolveMaster } from './sentinel.js';
import { NodePool, isClusterSource, liveClusterMasters } from './source-nodes.js';
import type { MigrationSpec } from './spec.js';
import { type RunState, lockState, loadState, newState, recordEvent, saveState, stateExists } from './state.js';
import { driverFor } from '../drivers/index.js';
import type { ReplicationDriver } from '../drivers/driver.js';
import { stepsFor } from '../steps/index.js';
import { keepBacklogForResume, restoreBacklog } from '../steps/backlog.js';
import { isPausedByFerry, unpauseAll } from '../steps/fence.js';
import type { Step, StepContext, StepId } from '../steps/step.js';

/** How to run. */
export interface RunOptions {
  /** State file (default .ferry/run-<timestamp>.json). */
  statePath?: string;
  /** Answer every confirmation with yes. */
  yes: boolean;
  bus: EventBus;
  /** Aborting it stops the run cleanly (exit 130): unpause, save, close. */
  signal?: AbortSignal;
  /** Asks the operator; needed when `yes` is false. */
  confirm?: (question: string) => Promise<boolean>;
  /** Continue the run stored in `statePath`. */
  resume?: boolean;
  /** The operator already confirmed the plan (the wizard): do not ask again before starting. */
  confirmed?: boolean;
}

/** What a finished run reports (also the `report` of the final `done` event). */
export interface RunReport {
  statePath: string;
  steps: Array<{ id: StepId; ms?: number; skipped?: boolean }>;
  /** How long the old master refused writes (CLIENT PAUSE → UNPAUSE), ms. */
  pauseMs?: number;
  /** The source's replication offset at the cutover (a cluster source: the sum over its masters). */
  finalOffset?: number;
  /** A cluster source: each master's offset at the cutover. */
  finalOffsets?: Record<string, number>;
  /** --drop-field-ttl: hash-field TTLs the target did not get. */
  fieldTtlsDropped?: number;
  /** Pending entries of consumer groups the commands writer could not recreate (entry deleted). */
  pendingSkipped?: number;
  target: { host: string; port: number; pid?: number; dataDir?: string };
  /** The cutover gate's result (step verify), when it ran. */
  verify?: Record<string, unknown>;
  /** The final check after promote (step final-check): old master at rest vs the new one. */
  finalCheck?: Record<string, unknown>;
  warnings: string[];
}

/**
 * Default state file path for a new run: its start time and pid, so two runs started in the same
 * second from one directory get a state file (and a lock) each.
 */
export function defaultStatePath(now = new Date(), pid = process.pid): string {
  return join('.ferry', `run-${now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${pid}.json`);
}

/** Runs (or resumes) a migration. Throws a FerryError carrying the exit code on failure. */
export async function runMigration(spec: MigrationSpec, opts: RunOptions): Promise<RunReport> {
  const statePath = opts.statePath ?? defaultStatePath();
  const signal = opts.signal ?? new AbortController().signal;
  const warnings: string[] = [];
  const stopWarnings = opts.bus.add((e) => {
    if (e.event === 'warning') warnings.push(e.message);
  });
  let run: Run | undefined;
  try {
    const lock = lockState(statePath);
    try {
      run = await Run.open(spec, opts, statePath, signal);
      const report = await run.walk(warnings);
      opts.bus.emit({ event: 'done', exitCode: 0, report: report as unknown as Record<string, unknown> });
      return report;
    } finally {
      await run?.close();
      lock.release();
    }
  } catch (raw) {
    // A run that changed nothing leaves no state file behind unless one was asked for.
    const removed = !!run?.changedNothing() && !opts.statePath;
    const interrupted = signal.aborted && !(raw instanceof FerryError && raw.exitCode === ExitCode.refused);
    const err = !interrupted ? raw : new InterruptedError(removed ? 'interrupted before anything was changed' : 'interrupted: the old master is not paused; state saved: ferry resume --state ' + statePath);
    const failed: FerryEvent = { event: 'failed', exitCode: exitCodeOf(err), error: (err as Error)?.message ?? String(err) };
    if (err instanceof StepError) failed.step = err.step;
    else if (run?.state.error?.step) failed.step = run.state.error.step;
    const code = exitCodeOf(err);
    if (run && !removed && (code === ExitCode.stepFailed || code === ExitCode.interrupted || code === ExitCode.verifyDiff)) failed.resume = `ferry resume --state ${statePath}`;
    if (run) failed.report = run.figures();
    if (removed) rmSync(statePath, { force: true });
    opts.bus.emit(failed);
    throw err;
  } finally {
    stopWarnings();
  }
}

/** What a rollback did. */
export interface RollbackReport {
  statePath: string;
  undone: StepId[];
  /** A server ferry started stays up (it holds a copy); stop it yourself if unwanted. */
  startedServerPid?: number;
}

/**
 * Undoes a run that has not promoted yet: lifts ferry's pause, then the steps' `undo` in reverse
 * (open-writes: the target's replica-read-only back; replicate: the target stops replicating).
 * The old master was never changed before promotion, so it needs nothing. After promotion the
 * way back is a new migration in the other direction (the old master is its replica already).
 */
export async function rollbackMigration(spec: MigrationSpec, opts: Omit<RunOptions, 'resume'> & { statePath: string }): Promise<RollbackReport> {
  const signal = opts.signal ?? new AbortController().signal;
  const lock = lockState(opts.statePath);
  let run: Run | undefined;
  try {
    run = await Run.open(spec, { ...opts, resume: true }, opts.statePath, signal);
    const report = await run.rollback();
    opts.bus.emit({ event: 'done', exitCode: 0, report: report as unknown as Record<string, unknown> });
    return report;
  } catch (err) {
    opts.bus.emit({ event: 'failed', exitCode: exitCodeOf(err), error: (err as Error)?.message ?? String(err) });
    throw err;
  } finally {
    await run?.close();
    lock.release();
  }
}

/** One run: the state, the connections, the step context. */
class Run {
  private sourceClient?: Redis;
  private targetClient?: Redis;
  /** The other nodes of a cluster source (its masters), by address. */
  private nodes: NodePool;
  private stopRecording: () => void;
  readonly ctx: StepContext;
  /** The steps of this run, in order. */
  readonly steps: Step[];

  private constructor(
    readonly spec: MigrationSpec,
    readonly opts: RunOptions,
    readonly statePath: string,
    readonly state: RunState,
    readonly driver: ReplicationDriver,
    readonly target: Endpoint,
    readonly signal: AbortSignal,
  ) {
    // Progress is a stream of samples (10 per second while converging): the state keeps the rest.
    this.steps = stepsFor(spec);
    this.nodes = new NodePool(spec.from, spec.tls);
    this.stopRecording = opts.bus.add((e) => e.event !== 'progress' && recordEvent(state, e as unknown as Record<string, unknown>));
    const run = this;
    this.ctx = {
      spec,
      get facts(): Facts {
        if (!state.facts) throw new StepError('preflight', 'preflight has not run; resume from the start');
        return state.facts;
      },
      target,
      driver,
      state,
      statePath,
      bus: opts.bus,
      signal,
      yes: opts.yes,
      confirm: (q) => run.confirm(q),
      sourceClient: () => run.source(),
      sourceMasters: () => run.sourceMasters(),
      sourceNode: (addr) => run.sourceNode(addr),
      targetClient: () => run.targetConn(),
      save: async () => run.save(),
      warn: (message) => opts.bus.emit({ event: 'warning', message }),
      info: (message) => opts.bus.emit({ event: 'info', message }),
    };
  }

  static async open(spec: MigrationSpec, opts: RunOptions, statePath: string, signal: AbortSignal): Promise<Run> {
    const state = opts.resume ? loadState(statePath) : freshState(spec, statePath);
    if (opts.resume && state.status === 'done') throw new UsageError(`the run in ${statePath} is already complete`);
    if (opts.resume && state.status === 'rolled-back') throw new UsageError(`the run in ${statePath} was rolled back; start a new run`);
    if (!state.target) {
      const host = spec.to.kind === 'attach' ? spec.to.endpoint.host : spec.to.host;
      const port = spec.to.kind === 'attach' ? spec.to.endpoint.port : (spec.to.port ?? (await pickFreePort(host)));
      state.target = { host, port, started: false };
    }
    spec = await pinSentinelMaster(spec, state);
    const driver = await driverFor(spec.sync);
    const run = new Run(spec, opts, statePath, state, driver, targetEndpoint(spec, state.target.port), signal);
    run.save();
    return run;
  }

  /** Walks the steps; returns the report. */
  async walk(warnings: string[]): Promise<RunReport> {
    this.state.status = 'running';
    delete this.state.error;
    this.save();
    this.opts.bus.emit({ event: 'info', message: `state file: ${this.statePath}` });
    await this.restartDriverIfNeeded();
    await this.refenceIfPauseEnded();
    for (const step of this.steps) {
      this.throwIfAborted();
      // NOTE: on resume the replica restarts where replicate stands in the order, after every
      // earlier step not done is done again (a backlog put back at an abort is raised first).
      if (step.id === 'replicate') await this.restartDriverIfNeeded();
      await this.runStep(step);
      if (step.id === 'preflight') await this.confirmStart();
    }
    // The migration is over: what ferry changed on the old master only for it goes back.
    await restoreBacklog(this.ctx, 'end');
    this.state.status = 'done';
    this.save();
    return { ...this.figures(), warnings } as RunReport;
  }

  /** See `rollbackMigration`. */
  async rollback(): Promise<RollbackReport> {
    if (this.state.steps.promote.status === 'done' || (this.promotionMayHaveStarted() && (await this.driver.isPromoted(this.ctx)))) {
      throw new UsageError(`the new instance was already promoted; to go back, migrate again: ferry run --from <new> --to <old> (the old master is its replica with --retire replica)`);
    }
    await unpauseAll(this.ctx);
    const undone: StepId[] = [];
    for (const step of [...this.steps].reverse()) {
      const rec = this.state.steps[step.id];
      if (!step.undo || rec.status === 'pending') continue;
      this.opts.bus.emit({ event: 'info', message: `undoing ${step.id}` });
      await step.undo(this.ctx);
      Object.assign(rec, { status: 'pending', skipped: undefined, error: undefined });
      undone.push(step.id);
      this.save();
    }
    this.state.status = 'rolled-back';
    this.save();
    const t = this.state.target;
    return { statePath: this.statePath, undone, startedServerPid: t?.started ? t.pid : undefined };
  }

  /** True while no step past the read-only preflight has started. */
  changedNothing(): boolean {
    return this.steps.every((s) => s.id === 'preflight' || this.state.steps[s.id].status === 'pending');
  }

  /** Figures for the report and the final event. */
  figures(): Record<string, unknown> & Omit<RunReport, 'warnings'> {
    const t = this.state.target!;
    return {
      statePath: this.statePath,
      steps: this.steps.map((s) => ({ id: s.id, ms: this.state.steps[s.id].ms, skipped: this.state.steps[s.id].skipped })),
      pauseMs: this.state.cutover.pauseMs,
      finalOffset: this.state.cutover.finalOffset,
      ...(this.state.cutover.finalOffsets ? { finalOffsets: this.state.cutover.finalOffsets } : {}),
      ...(this.state.cutover.fieldTtlsDropped !== undefined ? { fieldTtlsDropped: this.state.cutover.fieldTtlsDropped } : {}),
      ...(this.state.cutover.pendingSkipped ? { pendingSkipped: this.state.cutover.pendingSkipped } : {}),
      target: { host: t.host, port: t.port, pid: t.pid, dataDir: t.dataDir },
      ...(this.state.steps.verify?.detail ? { verify: this.state.steps.verify.detail } : {}),
      ...(this.state.cutover.finalCheck ? { finalCheck: this.state.cutover.finalCheck } : {}),
    };
  }

  private async runStep(step: Step): Promise<void> {
    const rec = this.state.steps[step.id];
    if (rec.status === 'done') {
      this.opts.bus.emit({ event: 'step.done', step: step.id, ms: 0, skipped: true, detail: { reason: 'done in an earlier run' } });
      return;
    }
    this.opts.bus.emit({ event: 'step.start', step: step.id, title: step.title });
    const started = Date.now();
    Object.assign(rec, { status: 'running', startedAt: new Date().toISOString(), error: undefined });
    this.save();
    try {
      const already = step.id !== 'preflight' && (await step.check(this.ctx));
      const detail = already ? { reason: 'already in place' } : ((await step.run(this.ctx, (p) => this.opts.bus.emit({ event: 'progress', step: step.id, ...p }))) ?? undefined);
      Object.assign(rec, { status: 'done', finishedAt: new Date().toISOString(), ms: Date.now() - started, skipped: already || undefined, detail });
      this.save();
      this.opts.bus.emit({ event: 'step.done', step: step.id, ms: rec.ms!, skipped: already || undefined, detail: detail as Record<string, unknown> | undefined });
      if (process.env.FERRY_TEST_KILL_AFTER === step.id) process.kill(process.pid, 'SIGKILL');
    } catch (raw) {
      const err = this.classify(step, raw);
      Object.assign(rec, { status: 'failed', finishedAt: new Date().toISOString(), ms: Date.now() - started, error: err.message });
      this.state.error = { message: err.message, exitCode: exitCodeOf(err), step: step.id };
      this.opts.bus.emit({ event: 'step.failed', step: step.id, error: err.message });
      throw err;
    }
  }

  private classify(step: Step, raw: unknown): Error {
    if (this.signal.aborted) return new InterruptedError();
    if (raw instanceof FerryError) return raw;
    const msg = (raw as Error)?.message ?? String(raw);
    return new StepError(step.id, `step ${step.id} failed: ${msg.split('\n')[0]}; fix the cause, then ferry resume --state ${this.statePath}`);
  }

  /**
   * On resume with replication started but not promoted, the driver must be running again (the
   * engine's replica lived in the dead process). If ferry died inside promote, check first
   * whether the promotion already happened: restarting replication then would undo it.
   */
  private async restartDriverIfNeeded(): Promise<void> {
    const s = this.state.steps;
    if (s.replicate.status !== 'done' || s.promote.status === 'done') return;
    if (this.promotionMayHaveStarted() && (await this.driver.isPromoted(this.ctx))) {
      Object.assign(s.promote, { status: 'done', skipped: true, finishedAt: new Date().toISOString() });
      this.save();
      return;
    }
    this.opts.bus.emit({ event: 'info', message: 'resuming replication' });
    await this.driver.start(this.ctx);
  }

  /** Promote, or the Sentinel step (whose SENTINEL FAILOVER promotes the target in native mode), has begun. */
  private promotionMayHaveStarted(): boolean {
    const s = this.state.steps;
    return s.promote.status !== 'pending' || (s.sentinel !== undefined && s.sentinel.status !== 'pending');
  }

  /**
   * Behind Sentinel a step (sentinel) runs between fence and promote, so a run can stop there.
   * The fence's guarantee lasts only while its pause does: when the pause has ended before the
   * target was promoted, the fence is done again (pause, final offset) before the cutover goes on.
   */
  private async refenceIfPauseEnded(): Promise<void> {
    const s = this.state.steps;
    if (!s.sentinel || s.fence.status !== 'done' || s.promote.status === 'done' || isPausedByFerry(this.state)) return;
    if (await this.driver.isPromoted(this.ctx)) return;
    this.opts.bus.emit({ event: 'info', message: "the fence's pause has ended since it was done: the fence runs again before the cutover goes on" });
    Object.assign(s.fence, { status: 'pending', skipped: undefined });
    this.save();
  }

  private async confirmStart(): Promise<void> {
    if (this.opts.yes || this.opts.confirmed || this.state.steps.provision.status === 'done') return;
    const to = this.spec.to.kind === 'attach' ? `${this.target.host}:${this.target.port}` : `a new redis-server on ${this.target.host}:${this.target.port}`;
    const ok = await this.confirm(`Migrate ${this.spec.from.host}:${this.spec.from.port} → ${to} (sync ${this.spec.sync}, retire ${this.spec.retire})?`);
    if (!ok) throw new UsageError('not confirmed; nothing was changed');
  }

  private async confirm(question: string): Promise<boolean> {
    if (this.opts.yes) return true;
    if (!this.opts.confirm) throw new UsageError('this run needs a confirmation and there is no terminal to ask; pass --yes');
    return this.opts.confirm(question);
  }

  private throwIfAborted(): void {
    if (this.signal.aborted) throw new InterruptedError();
  }

  private async source(): Promise<Redis> {
    if (this.sourceClient?.status !== 'ready') {
      this.sourceClient?.disconnect();
      this.sourceClient = await connectEndpoint(this.spec.from, { role: 'source', flag: '--from', tls: this.spec.tls });
    }
    return this.sourceClient;
  }

  /** See StepContext.sourceMasters (a cluster source: its masters now, core/source-nodes.ts). */
  private async sourceMasters(): Promise<Array<{ addr: string; client: Redis }>> {
    const source = await this.source();
    if (!isClusterSource(this.state.facts)) return [{ addr: hostPort(this.spec.from), client: source }];
    const addrs = await liveClusterMasters(source, this.spec.from);
    return Promise.all(addrs.map(async (addr) => ({ addr, client: await this.sourceNode(addr) })));
  }

  private async sourceNode(addr: string): Promise<Redis> {
    return addr === hostPort(this.spec.from) ? this.source() : this.nodes.get(addr);
  }

  private async targetConn(): Promise<Redis> {
    if (this.targetClient?.status !== 'ready') {
      this.targetClient?.disconnect();
      this.targetClient = await connectEndpoint(this.target, { role: 'target', flag: '--to', tls: this.spec.tls });
    }
    return this.targetClient;
  }

  save(): void {
    saveState(this.statePath, this.state);
  }

  /**
   * Ends the run: lifts a pause ferry left (failure, interrupt), puts the source's backlog back
   * after an interrupt (a failed run keeps it for resume), saves, closes connections.
   */
  async close(): Promise<void> {
    if (isPausedByFerry(this.state) && this.state.status !== 'done') {
      try {
        await unpauseAll(this.ctx);
      } catch {
        /* the pause ends by itself after --pause-timeout */
      }
    }
    if (this.state.status === 'running') this.state.status = this.signal.aborted ? 'interrupted' : 'failed';
    // NOTE: an interrupt is the operator leaving: the source goes back as it was. A failure waits
    // for `ferry resume`, which needs the raised backlog to continue the replication.
    if (this.state.status === 'interrupted') await restoreBacklog(this.ctx, 'abort');
    else if (this.state.status === 'failed') keepBacklogForResume(this.ctx);
    this.save();
    this.stopRecording();
    this.sourceClient?.disconnect();
    this.targetClient?.disconnect();
    this.nodes.close();
    await this.driver.close();
  }
}

/**
 * A `sentinel://` source is resolved once per run and pinned in the state: the run migrates from
 * the master the Sentinels named when it started. (At the cutover the Sentinels name the new
 * master; a resume must not take that for the source.)
 */
async function pinSentinelMaster(spec: MigrationSpec, state: RunState): Promise<MigrationSpec> {
  if (!spec.from.sentinel) return spec;
  let pinned = state.data[SENTINEL_MASTER] as { host: string; port: number } | undefined;
  if (!pinned) {
    pinned = await resolveMaster(spec.from);
    state.data[SENTINEL_MASTER] = pinned;
  }
  return { ...spec, from: { ...spec.from, host: pinned.host, port: pinned.port } };
}

/** state.data key: the master a sentinel:// run migrates from. */
export const SENTINEL_MASTER = 'sentinel.master';

function freshState(spec: MigrationSpec, statePath: string): RunState {
  if (stateExists(statePath)) {
    const old = loadState(statePath);
    const started = Object.entries(old.steps).some(([id, r]) => id !== 'preflight' && r.status !== 'pending');
    if (old.status === 'done') throw new UsageError(`${statePath} holds a finished run; choose another --state file`);
    if (started) throw new UsageError(`${statePath} holds an unfinished run; continue it with ferry resume --state ${statePath}, or choose another --state file`);
  }
  return newState(spec);
}
