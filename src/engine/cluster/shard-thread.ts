/**
 * A shard link in its own worker thread: the orchestrator's links then parse, route and write in
 * parallel (one engine per source master is CPU-bound during a full sync: RDB parsing and slot
 * routing in JavaScript), instead of sharing one thread. Opt-in (ClusterSyncOptions.threads): on
 * the 2-core bench machine, three threads plus six servers were slower than one thread (each
 * thread loads and compiles the engine again).
 *
 *   main thread: ShardThread (the SyncEngine methods the orchestrator uses)
 *        │  workerData: the link's options (endpoints, filters, shard) — plain data
 *        ▼
 *   worker: a ShardLink (shard-link.ts) and its engine; events, status and the master it follows
 *           are posted back; calls (stop, waitCaughtUp, waitStreaming) are request/reply.
 *
 * Options that are functions cannot cross: `emit` becomes messages, and `canFlushTarget` is not
 * supported (the orchestrator refuses it before starting threads). Errors cross as their message
 * and exit code.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Endpoint } from '../../core/endpoint.js';
import { ExitCode, FerryError, type ExitCodeValue } from '../../core/errors.js';
import type { FerryEvent } from '../../core/events.js';
import type { WriterChoice } from '../apply/writer-choice.js';
import type { SyncEngine, SyncReport } from '../sync.js';
import type { ShardLinkOptions } from './shard-link.js';
import type { ClusterShard } from './slots.js';

type EngineStatus = ReturnType<SyncEngine['status']>;

/** What the worker gets: ShardLinkOptions without functions. */
export type ShardThreadData = Omit<ShardLinkOptions, 'engine'> & { engine: Omit<ShardLinkOptions['engine'], 'emit' | 'canFlushTarget'> };

type ToWorker = { t: 'call'; id: number; method: 'stop' | 'waitCaughtUp' | 'waitStreaming'; args: unknown[] };
type FromWorker =
  | { t: 'event'; e: FerryEvent }
  | { t: 'started'; choice: WriterChoice }
  | { t: 'status'; status: EngineStatus; master: Endpoint }
  | { t: 'progress'; id: number; applied: number; master: number }
  | { t: 'reply'; id: number; value?: unknown; err?: WireError }
  | { t: 'done'; report: SyncReport }
  | { t: 'failed'; err: WireError };

interface WireError {
  message: string;
  exitCode: number;
}

function toWire(e: unknown): WireError {
  const err = e as Error & { exitCode?: number };
  return { message: err?.message ?? String(e), exitCode: err?.exitCode ?? ExitCode.internal };
}

function fromWire(w: WireError): FerryError {
  return new FerryError(w.message, w.exitCode as ExitCodeValue);
}

/** The main thread's side of one shard link (see the file comment). */
export class ShardThread {
  readonly linkId: number;
  readonly shard: ClusterShard;
  choice!: WriterChoice;
  /** The master the link follows now (updated by the worker). */
  master: Endpoint;
  private worker: Worker | null = null;
  private lastStatus: EngineStatus | null = null;
  private calls = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; progress?: (a: number, m: number) => void }>();
  private nextId = 1;
  private donePromise: Promise<SyncReport>;
  private settle!: { resolve(r: SyncReport): void; reject(e: Error): void };
  private started: { resolve(): void; reject(e: Error): void } | null = null;
  private finished = false;

  constructor(
    private readonly data: ShardThreadData,
    private readonly emit: (e: FerryEvent) => void,
  ) {
    this.linkId = data.linkId;
    this.shard = data.shard;
    this.master = { ...data.from, host: data.shard.master.host || data.from.host, port: data.shard.master.port, db: 0 };
    this.donePromise = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.donePromise.catch(() => {});
  }

  /** Starts the worker and its engine; resolves once the engine has started. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.started = { resolve, reject };
      const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'ferry-shard', data: this.data } });
      this.worker = w;
      w.on('message', (m: FromWorker) => this.onMessage(m));
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => {
        if (!this.finished) this.fail(new FerryError(`the shard link thread for ${this.data.shard.master.host}:${this.data.shard.master.port} exited (${code})`, ExitCode.stepFailed));
      });
    });
  }

  done(): Promise<SyncReport> {
    return this.donePromise;
  }

  status(): EngineStatus {
    return this.lastStatus ?? { phase: 'starting', appliedOffset: -1, receivedOffset: -1, linkUp: false, rdbBytes: 0, rdbTotal: -1, keysApplied: 0, checkpoint: null };
  }

  async stop(opts: { removeCheckpoint?: boolean } = {}): Promise<SyncReport> {
    if (this.worker && !this.finished) await this.call('stop', [opts]).catch(() => {});
    return this.donePromise;
  }

  waitCaughtUp(pollMs = 200, onProgress?: (applied: number, master: number) => void, timeoutMs = Infinity): Promise<number> {
    return this.call('waitCaughtUp', [pollMs, Number.isFinite(timeoutMs) ? timeoutMs : -1], onProgress) as Promise<number>;
  }

  waitStreaming(): Promise<void> {
    return this.call('waitStreaming', []) as Promise<void>;
  }

  private call(method: ToWorker['method'], args: unknown[], progress?: (a: number, m: number) => void): Promise<unknown> {
    if (!this.worker || this.finished) return Promise.reject(new FerryError('the shard link has stopped', ExitCode.stepFailed));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject, progress });
      this.worker!.postMessage({ t: 'call', id, method, args } satisfies ToWorker);
    });
  }

  private onMessage(m: FromWorker): void {
    switch (m.t) {
      case 'event':
        return this.emit(m.e);
      case 'started':
        this.choice = m.choice;
        this.started?.resolve();
        this.started = null;
        return;
      case 'status':
        this.lastStatus = m.status;
        this.master = m.master;
        return;
      case 'progress':
        return this.calls.get(m.id)?.progress?.(m.applied, m.master);
      case 'reply': {
        const c = this.calls.get(m.id);
        this.calls.delete(m.id);
        if (m.err) c?.reject(fromWire(m.err));
        else c?.resolve(m.value);
        return;
      }
      case 'done':
        this.finish();
        return this.settle.resolve(m.report);
      case 'failed':
        return this.fail(fromWire(m.err));
    }
  }

  private fail(e: Error): void {
    if (this.finished) return;
    this.started?.reject(e);
    this.started = null;
    this.finish();
    this.settle.reject(e);
  }

  private finish(): void {
    this.finished = true;
    for (const c of this.calls.values()) c.reject(new FerryError('the shard link has stopped', ExitCode.stepFailed));
    this.calls.clear();
    const w = this.worker;
    // Let the last messages drain, then end the thread.
    if (w) setTimeout(() => void w.terminate(), 100).unref();
  }
}

/** The worker: runs one ShardLink and answers the main thread. */
async function runWorker(data: ShardThreadData): Promise<void> {
  const port = parentPort!;
  const post = (m: FromWorker): void => port.postMessage(m);
  const { ShardLink } = await import('./shard-link.js');
  const link = new ShardLink({ ...data, engine: { ...data.engine, emit: (e) => post({ t: 'event', e }) } });
  const engine = link.engine;
  const report = (): void => post({ t: 'status', status: engine.status(), master: link.master });
  const timer = setInterval(report, 250);
  port.on('message', (m: ToWorker) => {
    const reply = (p: Promise<unknown>): void => void p.then(
      (value) => post({ t: 'reply', id: m.id, value: value === undefined ? undefined : JSON.parse(JSON.stringify(value)) }),
      (e) => post({ t: 'reply', id: m.id, err: toWire(e) }),
    );
    if (m.method === 'stop') reply(engine.stop(m.args[0] as { removeCheckpoint?: boolean }));
    else if (m.method === 'waitStreaming') reply(engine.waitStreaming());
    else {
      const [pollMs, timeoutMs] = m.args as [number, number];
      reply(engine.waitCaughtUp(pollMs, (applied, master) => post({ t: 'progress', id: m.id, applied, master }), timeoutMs < 0 ? Infinity : timeoutMs));
    }
  });
  try {
    await engine.start();
  } catch (e) {
    clearInterval(timer);
    post({ t: 'failed', err: toWire(e) });
    return;
  }
  report();
  post({ t: 'started', choice: engine.choice });
  try {
    const r = await engine.done();
    report();
    post({ t: 'done', report: r });
  } catch (e) {
    report();
    post({ t: 'failed', err: toWire(e) });
  } finally {
    clearInterval(timer);
  }
}

if (!isMainThread && (workerData as { kind?: string } | null)?.kind === 'ferry-shard') {
  void runWorker((workerData as { data: ShardThreadData }).data);
}
