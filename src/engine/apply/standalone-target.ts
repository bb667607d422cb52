/**
 * The target as one server: one pipelined TargetConn, the checkpoint under one reserved key in db 0
 * (checkpoint.ts), stream batches as MULTI/EXEC with that key (stream-applier.ts).
 */
import type { Endpoint } from '../../core/endpoint.js';
import { CHECKPOINT_KEY, decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../checkpoint.js';
import type { Arg } from '../resp/encoder.js';
import { RespError, type RespValue } from '../resp/decoder.js';
import { StreamApplier } from './stream-applier.js';
import { TargetConn } from './target-conn.js';
import type { Applier, ApplierOptions, CommandSink, EngineTarget } from './target.js';

export interface StandaloneTargetOptions {
  endpoint: Endpoint;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean };
  windowBytes?: number;
  /** The connection broke or the target refused a command sent without a handler. */
  onFatal(err: Error): void;
}

/** See the file comment. */
export class StandaloneTarget implements EngineTarget {
  readonly kind = 'standalone' as const;
  readonly conn: TargetConn;

  constructor(opts: StandaloneTargetOptions) {
    this.conn = new TargetConn({ endpoint: opts.endpoint, tls: opts.tls, windowBytes: opts.windowBytes, onFatal: opts.onFatal });
  }

  connect(): Promise<void> {
    return this.conn.connect();
  }

  call(args: readonly Arg[]): Promise<RespValue> {
    return this.conn.call(args);
  }

  async isEmpty(): Promise<boolean> {
    const keyspace = String(await this.conn.call(['INFO', 'keyspace']));
    return !/^db\d+:keys=\d+/m.test(keyspace);
  }

  async readCheckpoint(): Promise<Checkpoint | null> {
    await this.conn.call(['SELECT', 0]);
    return decodeCheckpoint((await this.conn.call(['GET', CHECKPOINT_KEY])) as Buffer | null);
  }

  beginFullSync(cp: Checkpoint, flush: boolean): CommandSink {
    // ASYNC: the old keyspace is freed in a background thread while the new one loads.
    if (flush) this.conn.send(['FLUSHALL', 'ASYNC']);
    this.conn.send(['SELECT', 0]);
    this.conn.send(['SET', CHECKPOINT_KEY, encodeCheckpoint(cp)]);
    return this.conn;
  }

  endFullSync(cp: Checkpoint, done: (err: RespError | null) => void): void {
    // NOTE: the checkpoint write is ordered after every key write on the same connection, so its
    // reply means "RDB applied".
    this.conn.send(['SELECT', 0]);
    this.conn.send(['SET', CHECKPOINT_KEY, encodeCheckpoint(cp)], (reply) => done(reply instanceof RespError ? reply : null));
  }

  createApplier(opts: ApplierOptions): Applier {
    return new StreamApplier({ conn: this.conn, ...opts });
  }

  async removeCheckpoint(): Promise<void> {
    await this.conn.call(['SELECT', 0]);
    const r = await this.conn.call(['DEL', CHECKPOINT_KEY]);
    if (r instanceof RespError) throw new Error(`could not remove the checkpoint key: ${r.message}`);
  }

  get full(): boolean {
    return this.conn.full;
  }

  waitForWindow(): Promise<void> {
    return this.conn.waitForWindow();
  }

  whenIdle(): Promise<void> {
    return this.conn.whenIdle();
  }

  settle(): Promise<void> {
    return this.conn.whenIdle();
  }

  close(): void {
    this.conn.close();
  }
}
