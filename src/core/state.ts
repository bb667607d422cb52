/**
 * The state file: what a run has done, so `ferry resume` continues where it stopped and
 * `ferry status` can show it. Versioned JSON written atomically (temp file, fsync, rename) with
 * mode 0600, and never a secret: the spec is stored through `publicSpec`, passwords are re-read
 * from FERRY_FROM_PASSWORD / FERRY_TO_PASSWORD on resume. A lock file keeps two ferry processes
 * off one state file.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync, mkdirSync, existsSync } from 'node:fs';
import { writeFileAtomic } from './atomic-file.js';
import { dirname, resolve } from 'node:path';
import { FerryError, ExitCode, UsageError } from './errors.js';
import type { Facts } from './facts.js';
import { redactDeep } from './redact.js';
import { parseRedisUrl, withSentinelAuth } from './endpoint.js';
import { type MigrationSpec, publicSpec } from './spec.js';
import { stepIdsFor, type StepId } from '../steps/step.js';
import { isAlive } from './provision-server.js';

export const STATE_VERSION = 1;

export type StepStatus = 'pending' | 'running' | 'done' | 'failed';

/** One step's record. */
export interface StepRecord {
  status: StepStatus;
  startedAt?: string;
  finishedAt?: string;
  ms?: number;
  /** Done without running because check() found it already in place. */
  skipped?: boolean;
  error?: string;
  detail?: Record<string, unknown>;
}

/** The target as resolved at run time (the port ferry picked, the pid of a server it started). */
export interface TargetRecord {
  host: string;
  port: number;
  runId?: string;
  pid?: number;
  dataDir?: string;
  started: boolean;
}

/** The whole state file. */
export interface RunState {
  version: typeof STATE_VERSION;
  createdAt: string;
  updatedAt: string;
  status: 'running' | 'done' | 'failed' | 'interrupted' | 'rolled-back';
  /** publicSpec(spec): URLs without passwords. */
  spec: Record<string, unknown>;
  /** Which passwords the run had (they are not stored; resume needs them from the environment). */
  credentials: { from: boolean; to: boolean; sentinel?: boolean };
  steps: Record<StepId, StepRecord>;
  target: TargetRecord | null;
  facts: Facts | null;
  /** The run's steps (the Sentinel steps only for a sentinel:// source); see stepIdsFor. */
  /** Step and driver scratch (e.g. the target's replica-read-only, the engine's replid/offset). */
  data: Record<string, unknown>;
  /** Cutover figures. */
  cutover: {
    pauseMs?: number;
    finalOffset?: number;
    /** A cluster source: each master's master_repl_offset at the fence (finalOffset is their sum). */
    finalOffsets?: Record<string, number>;
    /** Engine: hash-field TTLs not copied (--drop-field-ttl), pending entries it could not recreate. */
    fieldTtlsDropped?: number;
    pendingSkipped?: number;
    /** The final check after promote (step final-check). */
    finalCheck?: Record<string, unknown>;
  };
  error?: { message: string; exitCode: number; step?: string };
  /** The run's events, redacted, most recent last (bounded). */
  events: Array<Record<string, unknown>>;
}

const MAX_EVENTS = 500;

/** A fresh state for `spec`. */
export function newState(spec: MigrationSpec): RunState {
  const now = new Date().toISOString();
  const steps = Object.fromEntries(stepIdsFor(spec).map((id) => [id, { status: 'pending' }])) as Record<StepId, StepRecord>;
  return {
    version: STATE_VERSION,
    createdAt: now,
    updatedAt: now,
    status: 'running',
    spec: publicSpec(spec),
    credentials: {
      from: !!spec.from.password,
      to: spec.to.kind === 'attach' ? !!spec.to.endpoint.password : !!spec.to.password,
      ...(spec.from.sentinel ? { sentinel: !!spec.from.sentinel.password } : {}),
    },
    steps,
    target: null,
    facts: null,
    data: {},
    cutover: {},
    events: [],
  };
}

/** Appends an event to the state's bounded log. */
export function recordEvent(state: RunState, e: Record<string, unknown>): void {
  state.events.push(e);
  if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
}

/** Writes the state atomically: temp file (0600) + fsync + rename + fsync of the directory. */
export function saveState(path: string, state: RunState): void {
  state.updatedAt = new Date().toISOString();
  const text = `${JSON.stringify(redactDeep(state), null, 2)}\n`;
  writeFileAtomic(path, text);
}

/** Reads a state file; refuses another version and anything unparseable with a one-line error. */
export function loadState(path: string): RunState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read the state file ${path}; check --state`);
  }
  let state: RunState;
  try {
    state = JSON.parse(text) as RunState;
  } catch {
    throw new UsageError(`the state file ${path} is not valid JSON; it was not written by ferry or is damaged`);
  }
  if (state?.version !== STATE_VERSION) {
    throw new UsageError(`the state file ${path} has version ${JSON.stringify(state?.version)}; this ferry reads version ${STATE_VERSION}`);
  }
  // NOTE: a state written before a step existed (e.g. `backlog`, `verify`, `final-check`) has no
  // record for it: the step counts as not done, and its spec field gets the value that run implied
  // (see specFromState: no `verify` in the stored spec means the gate is off for that run).
  for (const id of stepIdsFor({ from: { sentinel: /^sentinel:/i.test(String(state.spec?.from)) } })) state.steps[id] ??= { status: 'pending' };
  return state;
}

/** True when `path` exists. */
export function stateExists(path: string): boolean {
  return existsSync(path);
}

/**
 * Rebuilds the spec of a stored run. Passwords come from the environment (the state has none);
 * a run that had one and finds none in the environment is refused with the variable to set.
 */
export function specFromState(state: RunState, env: NodeJS.ProcessEnv = process.env): MigrationSpec {
  const s = state.spec as Record<string, any>;
  let from = parseRedisUrl(String(s.from), 'the stored --from');
  from.password = undefined;
  if (state.credentials.from) {
    if (!env.FERRY_FROM_PASSWORD) throw new UsageError('this run used a source password, which the state file does not keep; set FERRY_FROM_PASSWORD');
    from.password = env.FERRY_FROM_PASSWORD;
  }
  if (from.sentinel) {
    if (state.credentials.sentinel && !env.FERRY_SENTINEL_PASSWORD) throw new UsageError('this run used a Sentinel password, which the state file does not keep; set FERRY_SENTINEL_PASSWORD');
    from = withSentinelAuth(from, env);
  }
  const toPassword = state.credentials.to ? env.FERRY_TO_PASSWORD : undefined;
  if (state.credentials.to && !toPassword) throw new UsageError('this run used a target password, which the state file does not keep; set FERRY_TO_PASSWORD');
  const to =
    s.to.kind === 'attach'
      ? { kind: 'attach' as const, endpoint: { ...parseRedisUrl(String(s.to.url), 'the stored --to'), password: toPassword } }
      : { kind: 'start' as const, host: String(s.to.host), port: s.to.port as number | undefined, password: toPassword };
  const { from: _f, to: _t, ...rest } = s;
  // A run stored before --backlog existed never touched the source's backlog: keep it so.
  const backlog = (rest.backlog as MigrationSpec['backlog'] | undefined) ?? { kind: 'keep' as const };
  // A run stored before the cutover gate existed was planned without it: it goes on without it.
  const verify = (rest.verify as MigrationSpec['verify']) ?? 'off';
  return { ...(rest as Omit<MigrationSpec, 'from' | 'to'>), backlog, verify, from, to };
}

/** Holds the lock on a state file until `release()`. */
export interface StateLock {
  release(): void;
}

/**
 * Takes `<state>.lock` (O_EXCL, holding our pid). A lock left by a dead process (e.g. one killed
 * with SIGKILL) is taken over; a live holder makes this throw.
 */
export function lockState(path: string): StateLock {
  const lock = `${path}.lock`;
  mkdirSync(dirname(resolve(lock)), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return {
        release() {
          try {
            if (readFileSync(lock, 'utf8').trim() === String(process.pid)) unlinkSync(lock);
          } catch {
            /* already gone */
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSafe(lock));
      if (holder && holder !== process.pid && isAlive(holder)) {
        throw new FerryError(`another ferry process (pid ${holder}) is using the state file ${path}; wait for it or stop it`, ExitCode.usage);
      }
      try {
        unlinkSync(lock); // stale: its holder is gone
      } catch {
        /* raced with another taker; retry */
      }
    }
  }
  throw new FerryError(`cannot lock the state file ${path} (${lock}); remove the lock file if no ferry is running`, ExitCode.usage);
}

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return '';
  }
}
