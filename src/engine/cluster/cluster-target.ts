/**
 * The target as a Redis Cluster (EngineTarget): the slot router (router.ts) writes to every master,
 * the stream goes through the per-slot exactly-once applier (slot-applier.ts), and the checkpoint
 * is the link's checkpoint key plus one key per slot:
 *
 *   __ferry:sync:checkpoint[:<link>]        JSON {replid, offset, db, phase}: where PSYNC resumes
 *   __ferry:sync:slot:{<tag>}:<link>         per slot: stream offset its commands are applied up to
 *
 * The full sync writes every key through the router (no transactions: a full sync cut short starts
 * over), and the 'stream' checkpoint only after every key write has answered. Resume reads the
 * link's checkpoint, then every slot checkpoint (16384 GETs, pipelined per master).
 */
import type { Endpoint } from '../../core/endpoint.js';
import { SafetyError } from '../../core/errors.js';
import type { KeyFilter } from '../apply/filter.js';
import { shardFullResyncMessage } from '../apply/standalone-target.js';
import type { Applier, ApplierOptions, CommandSink, EngineTarget } from '../apply/target.js';
import { CHECKPOINT_KEY, decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '../checkpoint.js';
import { RespError, type RespValue } from '../resp/decoder.js';
import type { Arg } from '../resp/encoder.js';
import { SlotRouter } from './router.js';
import { SlotApplier, type ClusterApplyStats } from './slot-applier.js';
import { SLOTS, slotTags } from './slots.js';

export interface ClusterTargetOptions {
  seed: Endpoint;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean };
  windowBytes?: number;
  /** Which link of a cluster source (its own checkpoint keys); 0 for a standalone source. */
  linkId: number;
  /** The source is one master of a cluster (targets.ts TargetRole): never flush, refuse what `refuse` names. */
  shardOfCluster: boolean;
  refuse?(argv: Buffer[]): string | null;
  onFatal(err: Error): void;
  onRestart(err: Error): void;
  warn(message: string): void;
  info(message: string): void;
}

/** The link's checkpoint key in a cluster target. */
export function linkCheckpointKey(linkId: number): string {
  return linkId === 0 ? CHECKPOINT_KEY : `${CHECKPOINT_KEY}:${linkId}`;
}

/** The slot checkpoint key names of a link (index = slot). */
export function slotCheckpointKeys(linkId: number): string[] {
  return slotTags().map((t) => `__ferry:sync:slot:{${t}}:${linkId}`);
}

/** See the file comment. */
export class ClusterTarget implements EngineTarget {
  readonly kind = 'cluster' as const;
  readonly router: SlotRouter;
  readonly stats: ClusterApplyStats = { crossSlotTransactions: 0, splitCommands: 0, skippedOnResume: 0, slotTransactions: 0, barriers: 0 };
  private readonly slotKeys: string[];
  /**
   * Slots whose checkpoint key may exist in the target: written by this run's applier, or read on
   * resume. removeCheckpoint deletes only those (16384 DELs per link cost ~0.1 s of CPU) unless
   * the target was not known empty (`slotKeysUnknown`: old keys of an earlier run may be there).
   */
  private readonly slotKeyWritten = new Uint8Array(SLOTS);
  private slotKeysUnknown = true;
  private readonly checkpointKey: string;
  private readonly windowBytes: number;
  private skip: Float64Array | null = null;
  private applier: SlotApplier | null = null;
  private fullSyncs = 0;
  private resumed = false;

  constructor(private readonly opts: ClusterTargetOptions) {
    this.windowBytes = opts.windowBytes ?? 16 * 1024 * 1024;
    this.slotKeys = slotCheckpointKeys(opts.linkId);
    this.checkpointKey = linkCheckpointKey(opts.linkId);
    this.router = new SlotRouter({
      seed: opts.seed,
      tls: opts.tls,
      windowBytes: opts.windowBytes,
      onBroken: (err) => opts.onRestart(err),
      onFatal: (err) => opts.onFatal(err),
    });
  }

  async connect(): Promise<void> {
    await this.router.connect();
  }

  call(args: readonly Arg[]): Promise<RespValue> {
    return this.router.call(args);
  }

  checkSource(sourceKeyspace: string, filter: KeyFilter): void {
    for (const m of sourceKeyspace.matchAll(/^db(\d+):keys=(\d+)/gm)) {
      const db = Number(m[1]);
      if (Number(m[2]) > 0 && filter.mapDb(db) !== 0) {
        throw new SafetyError(`the source has keys in db ${db}, and a cluster target has only db 0; map it with --db-map ${db}:0 (or sync that db elsewhere)`);
      }
    }
  }

  async isEmpty(): Promise<boolean> {
    // A shard link: the orchestrator checked (and emptied) the target before starting every link.
    if (this.opts.shardOfCluster) return (this.slotKeysUnknown = false), true;
    const sizes = await this.router.callAll(['DBSIZE']);
    const empty = sizes.every((n) => n === 0);
    if (empty) this.slotKeysUnknown = false;
    return empty;
  }

  async readCheckpoint(): Promise<Checkpoint | null> {
    const cp = decodeCheckpoint(ok(await this.router.request(['GET', this.checkpointKey])) as Buffer | null);
    this.skip = cp?.phase === 'stream' ? await this.readSlotCheckpoints() : null;
    this.resumed = cp !== null;
    if (cp && this.skip) {
      const ahead = this.skip.filter((o) => o > cp.offset);
      const most = ahead.reduce((m, o) => Math.max(m, o), cp.offset);
      this.opts.info(`cluster target: ${ahead.length} slot checkpoints are past the link checkpoint (offset ${cp.offset}, by up to ${most - cp.offset} bytes); their commands up to their own offsets are skipped`);
    }
    return cp;
  }

  beginFullSync(cp: Checkpoint, flush: boolean): CommandSink {
    this.skip = null;
    // NOTE: a link of a cluster source never flushes: the orchestrator empties the target once
    // for all of them, and a second full sync of one shard cannot be loaded (the others' keys).
    if (this.opts.shardOfCluster) {
      if (this.fullSyncs++ > 0 || this.resumed) throw new Error(shardFullResyncMessage(cp));
    } else if (flush) {
      this.router.send(['FLUSHALL', 'ASYNC']);
      this.slotKeysUnknown = false;
      this.slotKeyWritten.fill(0);
    }
    this.router.send(['SET', this.checkpointKey, encodeCheckpoint(cp)]);
    return this.router;
  }

  endFullSync(cp: Checkpoint, done: (err: RespError | Error | null) => void): void {
    // The stream applier holds its writes back until this is done, so "idle" means "every key
    // write of the full sync has answered".
    this.router.whenIdle().then(
      () => this.router.send(['SET', this.checkpointKey, encodeCheckpoint(cp)], (r) => done(r instanceof RespError ? r : null)),
      (e: Error) => done(e),
    );
  }

  createApplier(opts: ApplierOptions): Applier {
    this.applier = new SlotApplier({
      ...opts,
      router: this.router,
      slotKeys: this.slotKeys,
      slotKeyWritten: this.slotKeyWritten,
      checkpointKey: this.checkpointKey,
      skip: this.skip,
      refuse: this.opts.refuse,
      stats: this.stats,
      windowBytes: this.windowBytes,
    });
    this.skip = null;
    return this.applier;
  }

  async removeCheckpoint(): Promise<void> {
    let failed: string | null = null;
    const onReply = (r: RespValue): void => {
      if (r instanceof RespError) failed ??= r.message;
    };
    this.router.send(['DEL', this.checkpointKey], onReply);
    this.slotKeys.forEach((k, slot) => {
      if (this.slotKeysUnknown || this.slotKeyWritten[slot]) this.router.send(['DEL', k], onReply);
    });
    await this.router.whenIdle();
    if (failed) throw new Error(`could not remove the checkpoint keys: ${failed}`);
  }

  get full(): boolean {
    return this.router.full || (this.applier?.queuedBytes ?? 0) >= this.windowBytes;
  }

  async waitForWindow(): Promise<void> {
    await this.router.waitForWindow();
    await this.applier?.waitQueue(this.windowBytes / 2);
  }

  async whenIdle(): Promise<void> {
    await this.applier?.whenIdle();
    await this.router.whenIdle();
  }

  /**
   * After a link ends: the applier sends nothing more (what it had not sent is dropped), the
   * transactions in flight answer, a broken master is replaced (router.recover), and the slot
   * checkpoints are read again, so the next PSYNC from the applied offset skips exactly what the
   * target already holds.
   */
  async settle(): Promise<void> {
    this.applier?.stop();
    await this.applier?.whenIdle();
    await this.router.whenIdle().catch(() => {});
    await this.router.recover();
    const cp = decodeCheckpoint(ok(await this.router.request(['GET', this.checkpointKey])) as Buffer | null);
    this.skip = cp?.phase === 'stream' ? await this.readSlotCheckpoints() : null;
  }

  close(): void {
    this.applier?.stop();
    this.router.close();
  }

  /** Counters for the sync report. */
  report(): Record<string, unknown> {
    const r = this.router.redirects;
    return { cluster: { masters: this.router.masters().length, ...this.stats, moved: r.moved, ask: r.ask, retried: r.retried } };
  }

  /** Every slot checkpoint of this link (0 where there is none). */
  private async readSlotCheckpoints(): Promise<Float64Array> {
    const out = new Float64Array(SLOTS);
    let failed: string | null = null;
    await new Promise<void>((resolve) => {
      let left = SLOTS;
      this.slotKeys.forEach((k, slot) => {
        void this.router.request(['GET', k]).then((r) => {
          if (r instanceof RespError) failed ??= r.message;
          else if (r !== null) {
            out[slot] = Number(String(r));
            this.slotKeyWritten[slot] = 1;
          }
          if (--left === 0) resolve();
        });
      });
    });
    if (failed) throw new Error(`cannot read the slot checkpoints from the target: ${failed}`);
    this.slotKeysUnknown = false; // every slot key was read: slotKeyWritten marks those that exist
    return out;
  }
}

function ok(r: RespValue): RespValue {
  if (r instanceof RespError) throw new Error(`the target answered ${r.message}`);
  return r;
}
