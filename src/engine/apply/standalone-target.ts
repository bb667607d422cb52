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
  /** Checkpoint key (default `__ferry:sync:checkpoint`); each link of a cluster source has its own. */
  checkpointKey?: string;
  /** The link is one shard of a cluster source (targets.ts TargetRole): never flush, refuse what `refuse` names. */
  shardOfCluster?: boolean;
  refuse?(argv: Buffer[]): string | null;
  /** The connection broke or the target refused a command sent without a handler. */
  onFatal(err: Error): void;
}

/** See the file comment. */
export class StandaloneTarget implements EngineTarget {
  readonly kind = 'standalone' as const;
  readonly conn: TargetConn;
  private readonly key: string;
  private fullSyncs = 0;
  private resumed = false;

  constructor(private readonly opts: StandaloneTargetOptions) {
    this.conn = new TargetConn({ endpoint: opts.endpoint, tls: opts.tls, windowBytes: opts.windowBytes, onFatal: opts.onFatal });
    this.key = opts.checkpointKey ?? CHECKPOINT_KEY;
  }

  connect(): Promise<void> {
    return this.conn.connect();
  }

  call(args: readonly Arg[]): Promise<RespValue> {
    return this.conn.call(args);
  }

  async isEmpty(): Promise<boolean> {
    // A shard link: the orchestrator checked (and emptied) the target before starting every link.
    if (this.opts.shardOfCluster) return true;
    const keyspace = String(await this.conn.call(['INFO', 'keyspace']));
    return !/^db\d+:keys=\d+/m.test(keyspace);
  }

  async readCheckpoint(): Promise<Checkpoint | null> {
    await this.conn.call(['SELECT', 0]);
    const cp = decodeCheckpoint((await this.conn.call(['GET', this.key])) as Buffer | null);
    this.resumed = cp !== null;
    return cp;
  }

  beginFullSync(cp: Checkpoint, flush: boolean): CommandSink {
    if (this.opts.shardOfCluster) {
      if (this.fullSyncs++ > 0 || this.resumed) throw new Error(shardFullResyncMessage(cp));
    } else if (flush) {
      // ASYNC: the old keyspace is freed in a background thread while the new one loads.
      this.conn.send(['FLUSHALL', 'ASYNC']);
    }
    this.conn.send(['SELECT', 0]);
    this.conn.send(['SET', this.key, encodeCheckpoint(cp)]);
    return this.conn;
  }

  endFullSync(cp: Checkpoint, done: (err: RespError | null) => void): void {
    // NOTE: the checkpoint write is ordered after every key write on the same connection, so its
    // reply means "RDB applied".
    this.conn.send(['SELECT', 0]);
    this.conn.send(['SET', this.key, encodeCheckpoint(cp)], (reply) => done(reply instanceof RespError ? reply : null));
  }

  createApplier(opts: ApplierOptions): Applier {
    return new StreamApplier({ conn: this.conn, ...opts, checkpointKey: this.key, refuse: this.opts.refuse });
  }

  async removeCheckpoint(): Promise<void> {
    await this.conn.call(['SELECT', 0]);
    const r = await this.conn.call(['DEL', this.key]);
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

/**
 * Why a link of a cluster source cannot load a second full sync: the target holds the other shards'
 * keys too, so it cannot be emptied for one shard.
 */
export function shardFullResyncMessage(cp: Checkpoint): string {
  return `the source shard answered +FULLRESYNC (its backlog no longer covers the link's position, replid ${cp.replid.slice(0, 8)}…); a link of a cluster source cannot load its shard again into a target that also holds the other shards' keys. Raise repl-backlog-size on the source masters, then start over with --flush-target`;
}
