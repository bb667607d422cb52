/**
 * The slot router: writes into a Redis Cluster through one pipelined TargetConn per master (each
 * with the engine's window of unanswered bytes), routing every command by the hash slot of its keys
 * (slots.ts, command-keys.ts). It is a CommandSink, so the full-sync KeyWriter writes through it
 * unchanged; the stream applier (slot-applier.ts) sends whole per-slot transactions with `sendTx`.
 *
 * Redirections (facts from redis src/cluster.c, getNodeByQuery and clusterRedirectClient):
 * - `-MOVED <slot> <host:port>`: the slot lives on that master now. The slot's owner is updated at
 *   once and the whole map is re-read (CLUSTER SHARDS, or CLUSTER NODES before 7.0).
 * - `-ASK <slot> <host:port>`: the slot is migrating and this key is already (or will be) on the
 *   importing master; resend there preceded by `ASKING`. The ASKING flag survives MULTI (networking.c
 *   resetClient clears it only outside MULTI), so `ASKING MULTI … EXEC` runs a transaction there.
 * - `-TRYAGAIN`: a multi-key request (a transaction is one) during a migration of its slot when the
 *   node holds only some of the keys; `-CLUSTERDOWN`/`-LOADING`/`-MASTERDOWN`: the cluster heals
 *   (failover). All are retried after a short pause, for at most `retryMs`.
 * - Inside MULTI, a command redirected while queued flags the transaction, so EXEC answers
 *   EXECABORT and nothing of it ran; the queued replies say why (MOVED/ASK/…), and it is resent.
 *
 * Speed: the full sync's plain strings (key-writer.ts, handed over by `sendStrings`) are gathered
 * per slot (mset-gather.ts), so each master gets MSETs of ~30 keys of one slot instead of one SET
 * per key; a slot's batch is flushed before any other command for that slot (order).
 *
 * Order: the target must see the commands of one key in the order ferry sent them. A transaction
 * is alone in flight for its slot (the applier's rule), so it is simply resent. For plain commands
 * (the full sync), once one command of a slot is redirected, the slot is *held*: later commands of
 * that slot wait, the redirected ones and the held ones are resent in their original order once
 * every command of the slot still in flight has answered. Multi-key commands are split into
 * single-key ones here, and a gathered MSET that answers TRYAGAIN (some of its keys already moved)
 * is resent as one SET per key, so the node's per-key answer (it serves the key, or redirects it)
 * is always consistent with the order.
 *
 * A master whose connection breaks (a failover of the target) leaves its in-flight commands
 * unknown: `onBroken` tells the owner, who starts again from its checkpoint after `recover()`.
 */
import type { Endpoint } from '../../core/endpoint.js';
import { TargetConn } from '../apply/target-conn.js';
import type { CommandSink, ReplyHandler } from '../apply/target.js';
import type { KeyEntry } from '../entry.js';
import { RespError, type RespValue } from '../resp/decoder.js';
import type { Arg } from '../resp/encoder.js';
import { CommandKeys } from './command-keys.js';
import { isMset, MsetGatherer, type SlotBatch } from './mset-gather.js';
import { SLOTS, keySlot, parseClusterNodes, parseClusterShards, type ClusterTopology } from './slots.js';

export interface RouterOptions {
  /** Any node of the cluster: the map is read from it. */
  seed: Endpoint;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean };
  /** Window of unanswered bytes per master (default 16 MiB). */
  windowBytes?: number;
  /** A master's connection broke: what was in flight there is unknown (see the file comment). */
  onBroken(err: Error): void;
  /** A command ferry cannot route, or an error reply nobody handles: the sync cannot go on. */
  onFatal(err: Error): void;
  /** How long one command may keep being redirected before the sync fails (default 60 s). */
  retryMs?: number;
}

/** Where a stream command goes (see `plan`). */
export type Route =
  | { kind: 'slot'; slot: number; args: readonly Arg[] }
  | { kind: 'split'; parts: Array<{ slot: number; args: Arg[] }> }
  /** Keyless and global (FLUSHALL, FUNCTION, SCRIPT): every master. */
  | { kind: 'all'; args: readonly Arg[] }
  /** Keyless and cluster-wide by itself (PUBLISH is forwarded over the cluster bus): any master. */
  | { kind: 'any'; args: readonly Arg[] }
  | { kind: 'error'; message: string };

/** One master (or a node a redirect named). */
class NodeLink {
  conn: TargetConn | null = null;
  broken = false;
  readonly ready: Promise<void>;

  constructor(
    readonly addr: string,
    endpoint: Endpoint,
    router: SlotRouter,
    opts: RouterOptions,
  ) {
    const conn = new TargetConn({
      endpoint,
      tls: opts.tls,
      windowBytes: opts.windowBytes,
      onFatal: (err) => router.lost(this, err),
    });
    this.ready = withTimeout(conn.connect(), 10_000, `cannot connect to the target master ${addr}`).then(() => {
      this.conn = conn;
    });
    this.ready.catch((err: Error) => router.lost(this, err));
  }
}

/** A plain (non-transaction) command on its way, kept until it is answered for good. */
interface Pending {
  /** Order of first sending: a hold resends in this order. */
  seq: number;
  slot: number;
  args: readonly Arg[];
  /** A gathered MSET (args unused): its encoded command, copied whole into the connection's buffer. */
  gathered?: SlotBatch;
  onReply?: ReplyHandler;
  ask: NodeLink | null;
  delay: boolean;
  since: number;
  /** Control reads: hand a lost connection's error to onReply too (else only onBroken hears of it). */
  reportLost?: boolean;
}

const IGNORE: ReplyHandler = () => {};
/** Keyless commands that TargetConn's peers treat as cluster-wide by themselves. */
const ANY_NODE = new Set(['publish']);
/** Multi-key commands whose keys are independent: one command per slot means the same. */
const SPLIT_KEYS = new Set(['del', 'unlink', 'exists', 'touch']);
/**
 * MSET, and MSETNX: a MSETNX reaches the stream only when it set every key (the master does not
 * propagate a MSETNX that set nothing), so per-slot MSETs have the same effect on the target.
 */
const SPLIT_PAIRS = new Set(['mset', 'msetnx']);

/** See the file comment. */
export class SlotRouter implements CommandSink {
  keys!: CommandKeys;
  /** Redirections followed: MOVED, ASK, and waits (TRYAGAIN, CLUSTERDOWN, …). */
  readonly redirects = { moved: 0, ask: 0, retried: 0 };
  /** Owner of each slot (null: unknown, re-read the map). */
  private owner: Array<NodeLink | null> = new Array(SLOTS).fill(null);
  private nodes = new Map<string, NodeLink>();
  private readonly inflight = new Uint32Array(SLOTS);
  private held = new Map<number, Pending[]>();
  private releasing = new Set<number>();
  /** Retries waiting for a timer, a connection or the map (transactions and held slots). */
  private waiting = 0;
  private refreshing: Promise<void> | null = null;
  private timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private brokenErr: BrokenError | null = null;
  private readonly retryMs: number;
  private seq = 0;
  /** The full sync's plain strings, gathered per slot into MSETs (mset-gather.ts). */
  private readonly gather = new MsetGatherer((slot, batch, onReply) =>
    this.sendSlot({ slot, args: [], gathered: batch, onReply, ask: null, delay: false, since: Date.now(), seq: this.seq++ }),
  (err) => this.opts.onFatal(err));

  constructor(private readonly opts: RouterOptions) {
    this.retryMs = opts.retryMs ?? 60_000;
  }

  /** Reads the map and the command table from the seed, connects every master. */
  async connect(): Promise<void> {
    const seed = new TargetConn({ endpoint: this.opts.seed, tls: this.opts.tls, onFatal: () => {} });
    await seed.connect();
    try {
      const topo = await fetchTopology((args) => seed.call(args));
      this.keys = CommandKeys.fromCommandReply(await seed.call(['COMMAND']));
      this.applyTopology(topo);
    } finally {
      seed.close();
    }
    await Promise.all(this.masters().map((n) => n.ready));
    const unowned = this.owner.indexOf(null);
    if (unowned >= 0) throw new Error(`the target cluster has no master for slot ${unowned}; fix the cluster (redis-cli --cluster fix) first`);
  }

  /** The masters that own slots now. */
  masters(): NodeLink[] {
    return [...new Set(this.owner.filter((n): n is NodeLink => n !== null))];
  }

  /** Master addresses and their slot counts, for messages and reports. */
  describe(): string {
    const counts = new Map<string, number>();
    for (const n of this.owner) if (n) counts.set(n.addr, (counts.get(n.addr) ?? 0) + 1);
    return [...counts].map(([a, c]) => `${a} (${c} slots)`).join(', ');
  }

  /** The master owning `slot` (for the checkpoint barrier). */
  ownerOf(slot: number): NodeLink | null {
    return this.owner[slot];
  }

  /** Where a stream command goes: one slot, one command per slot, every master, or an error. */
  plan(argv: readonly Arg[]): Route {
    const pos = this.keys.keysOf(argv);
    if (!Array.isArray(pos)) return { kind: 'error', message: pos.error };
    const name = nameOf(argv);
    if (pos.length === 0) return ANY_NODE.has(name) ? { kind: 'any', args: argv } : { kind: 'all', args: argv };
    const first = keySlot(argv[pos[0]] as Buffer | string);
    let same = true;
    for (let i = 1; i < pos.length && same; i++) same = keySlot(argv[pos[i]] as Buffer | string) === first;
    if (same) return { kind: 'slot', slot: first, args: name === 'msetnx' ? ['MSET', ...argv.slice(1)] : argv };
    const pairs = SPLIT_PAIRS.has(name);
    if (!pairs && !SPLIT_KEYS.has(name)) {
      return { kind: 'error', message: `${name.toUpperCase()} has keys in different slots of the target cluster (${keyText(argv[pos[0]])} and others); a cluster cannot run it, and splitting it would change its meaning` };
    }
    const bySlot = new Map<number, Arg[]>();
    for (const i of pos) {
      const s = keySlot(argv[i] as Buffer | string);
      let part = bySlot.get(s);
      if (!part) bySlot.set(s, (part = [pairs ? 'MSET' : argv[0]]));
      part.push(argv[i]);
      if (pairs) part.push(argv[i + 1]);
    }
    return { kind: 'split', parts: [...bySlot].map(([slot, args]) => ({ slot, args })) };
  }

  /**
   * Queues a plain command (the full sync): routed by slot, multi-key commands split into
   * single-key ones, keyless ones sent to every master. Returns the encoded size (approximate).
   */
  send(args: readonly Arg[], onReply?: ReplyHandler): number {
    const name = nameOf(args);
    if (name === 'select') {
      const db = Number(String(args[1]));
      if (db !== 0) this.opts.onFatal(new Error(`the source has keys in db ${db}, and a cluster has only db 0; map it with --db-map ${db}:0 or leave it out with --include/--exclude`));
      onReply?.('OK');
      return 0;
    }
    const pos = this.keys.keysOf(args);
    if (!Array.isArray(pos)) {
      this.opts.onFatal(new Error(pos.error));
      return 0;
    }
    let size = 0;
    for (const a of args) size += typeof a === 'string' ? a.length : typeof a === 'number' ? 8 : a.length;
    if (pos.length === 0) {
      this.broadcast(args, (replies) => {
        const err = replies.find((r) => r instanceof RespError);
        if (onReply) onReply(err ?? replies[0] ?? 'OK');
        else if (err) this.opts.onFatal(new Error(`target replied: ${(err as RespError).message}`));
      });
      return size;
    }
    if (pos.length === 1) {
      const slot = keySlot(args[pos[0]] as Buffer | string);
      this.gather.flushSlot(slot);
      this.sendSlot({ slot, args, onReply, ask: null, delay: false, since: Date.now(), seq: this.seq++ });
      return size;
    }
    this.gather.flushAll();
    const pairs = SPLIT_PAIRS.has(name);
    if (!pairs && !SPLIT_KEYS.has(name)) {
      const route = this.plan(args);
      if (route.kind === 'error') this.opts.onFatal(new Error(route.message));
      else if (route.kind === 'slot') this.sendSlot({ slot: route.slot, args, onReply, ask: null, delay: false, since: Date.now(), seq: this.seq++ });
      return size;
    }
    // One reply for the caller: the first error, else the last reply.
    let left = pos.length;
    let firstErr: RespValue | null = null;
    const each: ReplyHandler = (r) => {
      if (r instanceof RespError && !firstErr) firstErr = r;
      if (--left === 0) onReply ? onReply(firstErr ?? r) : firstErr && this.opts.onFatal(new Error(`target replied: ${(firstErr as RespError).message}`));
    };
    for (const i of pos) {
      const single: Arg[] = pairs ? ['SET', args[i], args[i + 1]] : [args[0], args[i]];
      this.sendSlot({ slot: keySlot(args[i] as Buffer | string), args: single, onReply: each, ask: null, delay: false, since: Date.now(), seq: this.seq++ });
    }
    return size;
  }

  /** A single-key command on the key's master (control path: checkpoint reads); errors are replies. */
  request(args: readonly Arg[]): Promise<RespValue> {
    const pos = this.keys.keysOf(args);
    if (!Array.isArray(pos) || pos.length === 0) return Promise.resolve(new RespError(`ERR ferry: ${Array.isArray(pos) ? 'no key to route' : pos.error}`));
    return new Promise((resolve) => {
      this.sendSlot({ slot: keySlot(args[pos[0]] as Buffer | string), args, onReply: resolve, ask: null, delay: false, since: Date.now(), seq: this.seq++, reportLost: true });
    });
  }

  /** A command encoded in place by the caller (the KeyWriter's chunks): encoded, decoded, routed. */
  sendWith(n: number, fill: (buf: Buffer, off: number) => number, onReply?: ReplyHandler): void {
    const buf = Buffer.allocUnsafe(n);
    const end = fill(buf, 0);
    this.sendRaw(end === n ? buf : buf.subarray(0, end), onReply);
  }

  /** Queues bytes that are one RESP command: an MSET is gathered per slot, anything else decoded and routed. */
  sendRaw(bytes: Buffer, onReply?: ReplyHandler): void {
    if (isMset(bytes)) this.gather.add(bytes, onReply);
    else this.send(splitCommand(bytes), onReply);
  }

  /** The full sync's plain strings (CommandSink.sendStrings): gathered per slot into MSETs. */
  sendStrings(entries: readonly KeyEntry[], ttls: boolean, onReply?: ReplyHandler): void {
    this.gather.addStrings(entries, ttls, onReply);
  }



  /**
   * Sends `MULTI cmds… EXEC` to the owner of `slot`, resent on redirects until it runs or fails.
   * `done` gets the EXEC replies, or the error that stopped it. The caller keeps at most one
   * transaction per slot in flight. Returns the encoded size of the first attempt.
   */
  sendTx(slot: number, cmds: readonly (readonly Arg[])[], done: (err: Error | null, replies?: RespValue[]) => void): number {
    return this.attemptTx(slot, cmds, done, null, Date.now());
  }

  private attemptTx(slot: number, cmds: readonly (readonly Arg[])[], done: (err: Error | null, replies?: RespValue[]) => void, ask: NodeLink | null, since: number): number {
    this.gather.flushSlot(slot);
    if (this.brokenErr) {
      done(this.brokenErr);
      return 0;
    }
    const node = ask ?? this.owner[slot];
    if (!node?.conn) {
      if (Date.now() - since > this.retryMs) {
        done(new Error(`slot ${slot} of the target had no reachable master for ${Math.round(this.retryMs / 1000)} s`));
        return 0;
      }
      this.later(node ? node.ready : this.refresh(), () => this.attemptTx(slot, cmds, done, ask, since), done);
      return 0;
    }
    const conn = node.conn;
    const queued: RespValue[] = [];
    let size = 0;
    if (ask) size += conn.send(['ASKING'], IGNORE);
    size += conn.send(['MULTI'], IGNORE);
    for (const c of cmds) size += conn.send(c, (r) => queued.push(r));
    size += conn.send(['EXEC'], (r) => {
      if (Array.isArray(r)) return done(null, r);
      const errors = [...queued, r].filter((x): x is RespError => x instanceof RespError);
      if (errors.some(isLost) || this.brokenErr) return done(this.brokenErr ?? new BrokenError(errors.find(isLost)!.message));
      const cause = errors.find((e) => redirectOf(e.message)) ?? errors[0];
      const red = cause ? redirectOf(cause.message) : null;
      if (!red) return done(new Error(errors.map((e) => e.message).join('; ') || `EXEC answered ${String(r)}`));
      if (Date.now() - since > this.retryMs) return done(new Error(`slot ${slot} of the target kept answering ${cause.message} for ${Math.round(this.retryMs / 1000)} s`));
      const next = this.follow(slot, red);
      const retry = (): number => this.attemptTx(slot, cmds, done, red.kind === 'ask' ? next : null, since);
      if (red.kind === 'wait') this.later(sleep(this.backoff(since), this.timers), retry, done);
      else retry();
    });
    return size;
  }

  /** Sends a keyless command to every master; `done` gets their replies. */
  broadcast(args: readonly Arg[], done: (replies: RespValue[]) => void, except?: NodeLink): void {
    const targets = this.masters().filter((n) => n !== except);
    if (targets.length === 0) return done([]);
    const replies: RespValue[] = [];
    let left = targets.length;
    for (const n of targets) {
      const each: ReplyHandler = (r) => {
        replies.push(r);
        if (--left === 0) done(replies);
      };
      if (n.conn) n.conn.send(args, each);
      else each(new RespError(`ERR ferry: the target master ${n.addr} is not connected`));
    }
  }

  /** A keyless command any master can run for the whole cluster (PUBLISH); errors are ignored. */
  sendAny(args: readonly Arg[]): void {
    const n = this.masters().find((m) => m.conn);
    n?.conn?.send(args, IGNORE);
  }

  /** A control command on one master. */
  call(args: readonly Arg[]): Promise<RespValue> {
    const n = this.masters().find((m) => m.conn);
    if (!n?.conn) return Promise.reject(new Error('no target master is connected'));
    return n.conn.call(args);
  }

  /** Runs `args` on every master and returns the replies (control path). */
  callAll(args: readonly Arg[]): Promise<RespValue[]> {
    return Promise.all(this.masters().map((n) => (n.conn ? n.conn.call(args) : Promise.reject(new Error(`the target master ${n.addr} is not connected`)))));
  }

  /** True when some master's window is used up. */
  get full(): boolean {
    for (const n of this.nodes.values()) if (n.conn?.full) return true;
    return false;
  }

  /** Resolves once every master's window has room. */
  async waitForWindow(): Promise<void> {
    this.gather.flushAll();
    await Promise.all([...this.nodes.values()].map((n) => (n.conn && !n.broken ? n.conn.waitForWindow() : undefined)));
  }

  /** Resolves when every command sent has its final reply (retries included). */
  async whenIdle(): Promise<void> {
    this.gather.flushAll();
    for (;;) {
      if (this.brokenErr) throw this.brokenErr;
      await Promise.all([...this.nodes.values()].map((n) => (n.conn && !n.broken ? n.conn.whenIdle() : undefined)));
      if (this.held.size === 0 && this.waiting === 0) return;
      await sleep(5, this.timers);
      if (this.closed) throw new Error('the router is closed');
    }
  }

  /** Bytes in flight over all masters. */
  get unanswered(): number {
    let n = 0;
    for (const node of this.nodes.values()) n += node.conn?.unanswered ?? 0;
    return n;
  }

  /**
   * After `onBroken`: drops the broken masters and whatever waited, re-reads the map (until every
   * slot has a reachable master, within `retryMs`) and connects the masters it names.
   */
  async recover(): Promise<void> {
    if (!this.brokenErr) return;
    const deadline = Date.now() + this.retryMs;
    for (const n of this.nodes.values()) if (n.broken) n.conn?.close();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.held.clear();
    this.releasing.clear();
    this.gather.clear();
    this.inflight.fill(0);
    this.waiting = 0;
    let last: Error = this.brokenErr;
    for (;;) {
      if (this.closed) throw new Error('the router is closed');
      try {
        // Nodes that answered before are asked first; a new map can name new masters.
        const live = [...this.nodes.values()].filter((n) => n.conn && !n.broken);
        const topo = await firstAnswer(live.map((n) => () => fetchTopology((a) => n.conn!.call(a))).concat(() => this.seedTopology()));
        const healthy = topo.shards.every((s) => s.ranges.length === 0 || s.master.healthy);
        if (healthy) {
          for (const [addr, n] of this.nodes) if (n.broken) this.nodes.delete(addr);
          this.brokenErr = null;
          this.applyTopology(topo);
          await Promise.all(this.masters().map((n) => n.ready));
          if (!this.brokenErr && this.owner.indexOf(null) < 0) return;
          last = this.brokenErr ?? new Error('some slots of the target cluster have no master');
          this.brokenErr ??= new BrokenError(last.message);
        }
      } catch (e) {
        last = e as Error;
      }
      if (Date.now() > deadline) throw new Error(`the target cluster did not recover within ${Math.round(this.retryMs / 1000)} s: ${last.message}`);
      await sleep(250, this.timers);
    }
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const n of this.nodes.values()) n.conn?.close();
  }

  /** A master's connection failed (NodeLink): every later send is refused until `recover()`. */
  lost(node: NodeLink, err: Error): void {
    if (this.closed || node.broken) return;
    node.broken = true;
    if (this.brokenErr) return;
    this.brokenErr = new BrokenError(`lost the target master ${node.addr} (${err.message})`);
    this.opts.onBroken(this.brokenErr);
  }

  // --- plain commands: per-slot order through redirects ---

  private sendSlot(p: Pending): void {
    if (this.brokenErr) {
      if (p.reportLost) p.onReply?.(new RespError(`ERR ferry: ${this.brokenErr.message}`));
      return;
    }
    const held = this.held.get(p.slot);
    if (held) {
      held.push(p);
      return;
    }
    const node = p.ask ?? this.owner[p.slot];
    if (!node?.conn) {
      this.hold(p);
      return;
    }
    const ask = p.ask;
    p.ask = null;
    if (ask) node.conn.send(['ASKING'], IGNORE);
    this.inflight[p.slot]++;
    if (p.gathered) node.conn.sendRawMany(p.gathered.cmd, p.gathered.commands, (reply) => this.onSlotReply(p, reply));
    else node.conn.send(p.args, (reply) => this.onSlotReply(p, reply));
  }

  private onSlotReply(p: Pending, reply: RespValue): void {
    this.inflight[p.slot]--;
    if (reply instanceof RespError) {
      if (isLost(reply) || this.brokenErr) {
        if (p.reportLost) p.onReply?.(isLost(reply) ? reply : new RespError(`ERR ferry: ${this.brokenErr!.message}`));
        return;
      }
      const red = redirectOf(reply.message);
      if (red) {
        if (Date.now() - p.since > this.retryMs) {
          this.opts.onFatal(new Error(`slot ${p.slot} of the target kept answering ${reply.message} for ${Math.round(this.retryMs / 1000)} s`));
          return;
        }
        const next = this.follow(p.slot, red);
        if (p.gathered && (red.kind === 'wait' || (red.kind === 'ask' && p.gathered.commands > 1))) {
          // A gathered batch during a migration of its slot: resent as one SET per key (an
          // ASKING covers only the command right after it).
          for (const single of this.singles(p, red.kind === 'wait')) this.hold(single);
          return;
        }
        if (red.kind === 'ask') p.ask = next;
        if (red.kind === 'wait') p.delay = true;
        this.hold(p);
        return;
      }
      if (p.onReply) p.onReply(reply);
      else this.opts.onFatal(new Error(`target replied: ${reply.message}`));
    } else p.onReply?.(reply);
    if (this.held.has(p.slot)) this.release(p.slot);
  }

  /**
   * A gathered batch (an MSET, then `SET … PXAT` of its keys with a TTL) as one SET per key, in its
   * place in the order, answering the batch's caller once.
   */
  private singles(p: Pending, delay: boolean): Pending[] {
    const cmds: Arg[][] = [];
    for (const argv of splitCommands(p.gathered!.cmd)) {
      if (!isMsetArgs(argv)) cmds.push(argv);
      else for (let i = 1; i + 1 < argv.length; i += 2) cmds.push(['SET', argv[i], argv[i + 1]]);
    }
    let left = cmds.length;
    let err: RespValue | null = null;
    const each: ReplyHandler = (r) => {
      if (r instanceof RespError && !err) err = r;
      if (--left === 0) p.onReply?.(err ?? r);
    };
    return cmds.map((args) => ({ seq: p.seq, slot: p.slot, args, onReply: each, ask: null, delay, since: p.since }));
  }

  /** Puts a command in its slot's hold, in sending order, and releases the hold when it can go. */
  private hold(p: Pending): void {
    let list = this.held.get(p.slot);
    if (!list) this.held.set(p.slot, (list = []));
    // A redirected command was sent before the commands held since: it goes in by its seq.
    let i = list.length;
    while (i > 0 && list[i - 1].seq > p.seq) i--;
    list.splice(i, 0, p);
    this.release(p.slot);
  }

  /** Resends a slot's held commands once nothing of the slot is in flight and their nodes are up. */
  private release(slot: number): void {
    const list = this.held.get(slot);
    if (!list || this.inflight[slot] > 0 || this.releasing.has(slot)) return;
    let oldest = Infinity;
    let delay = false;
    const waits: Array<Promise<unknown>> = [];
    for (const p of list) {
      oldest = Math.min(oldest, p.since);
      delay ||= p.delay;
      const node = p.ask ?? this.owner[slot];
      if (!node) waits.push(this.refresh());
      else if (!node.conn) waits.push(node.ready);
    }
    if (Date.now() - oldest > this.retryMs) {
      this.opts.onFatal(new Error(`slot ${slot} of the target had no reachable master for ${Math.round(this.retryMs / 1000)} s`));
      return;
    }
    if (delay) waits.push(sleep(this.backoff(oldest), this.timers));
    if (waits.length === 0) {
      this.held.delete(slot);
      for (const p of list) {
        p.delay = false;
        this.sendSlot(p);
      }
      return;
    }
    this.releasing.add(slot);
    for (const p of list) p.delay = false;
    this.later(Promise.all(waits), () => {
      this.releasing.delete(slot);
      this.release(slot);
    }, (e) => {
      if (e && !this.brokenErr) this.opts.onFatal(e);
    });
  }

  // --- the map ---

  /** Applies what a redirect says; returns the node an ASK names. */
  private follow(slot: number, red: Redirect): NodeLink | null {
    this.redirects[red.kind === 'wait' ? 'retried' : red.kind]++;
    if (red.kind === 'wait') {
      if (red.refresh) void this.refresh().catch(() => {});
      return null;
    }
    const node = this.nodeFor(red.addr);
    if (red.kind === 'moved') {
      this.owner[red.slot] = node;
      void this.refresh().catch(() => {});
    }
    return node;
  }

  /** Re-reads the map (one read at a time; callers share it). */
  private refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    const live = [...this.nodes.values()].filter((n) => n.conn && !n.broken);
    this.refreshing = firstAnswer(live.map((n) => () => fetchTopology((a) => n.conn!.call(a))).concat(() => this.seedTopology()))
      .then((topo) => this.applyTopology(topo))
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  private async seedTopology(): Promise<ClusterTopology> {
    const seed = new TargetConn({ endpoint: this.opts.seed, tls: this.opts.tls, onFatal: () => {} });
    try {
      await withTimeout(seed.connect(), 5000, 'the seed node does not answer');
      return await fetchTopology((args) => seed.call(args));
    } finally {
      seed.close();
    }
  }

  private applyTopology(topo: ClusterTopology): void {
    const owner: Array<NodeLink | null> = new Array(SLOTS).fill(null);
    for (const s of topo.shards) {
      if (s.ranges.length === 0) continue;
      const node = this.nodeFor(`${s.master.host || this.opts.seed.host}:${s.master.port}`);
      for (const [a, b] of s.ranges) owner.fill(node, a, b + 1);
    }
    this.owner = owner;
  }

  private nodeFor(addr: string): NodeLink {
    let n = this.nodes.get(addr);
    if (n && !n.broken) return n;
    const colon = addr.lastIndexOf(':');
    const host = addr.slice(0, colon).replace(/^\[|\]$/g, '');
    const endpoint: Endpoint = { ...this.opts.seed, host, port: Number(addr.slice(colon + 1).split('@')[0]), db: 0 };
    n = new NodeLink(addr, endpoint, this, this.opts);
    this.nodes.set(addr, n);
    return n;
  }

  /** Pause before a retry: 20 ms, growing with the time already spent, at most 500 ms. */
  private backoff(since: number): number {
    return Math.min(500, 20 + (Date.now() - since) / 10);
  }

  /** Runs `then` once `wait` settles (counted as waiting, for whenIdle); `fail` on a rejection. */
  private later(wait: Promise<unknown>, then: () => unknown, fail: (err: Error | null) => void): void {
    this.waiting++;
    wait.then(
      () => {
        this.waiting--;
        if (!this.closed && !this.brokenErr) then();
        else if (this.brokenErr) fail(this.brokenErr);
      },
      (e: Error) => {
        this.waiting--;
        if (!this.closed) fail(this.brokenErr ?? e);
      },
    );
  }
}

/** A master's connection broke: what was in flight there may or may not have run. */
export class BrokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BrokenError';
  }
}

/** What a redirect error asks for. */
type Redirect = { kind: 'moved' | 'ask'; slot: number; addr: string } | { kind: 'wait'; refresh: boolean };

function redirectOf(message: string): Redirect | null {
  const m = /^(MOVED|ASK) (\d+) (\S+)/.exec(message);
  if (m) return { kind: m[1] === 'MOVED' ? 'moved' : 'ask', slot: Number(m[2]), addr: m[3] };
  if (/^(TRYAGAIN|LOADING|MASTERDOWN)\b/.test(message)) return { kind: 'wait', refresh: false };
  if (/^CLUSTERDOWN\b/.test(message)) return { kind: 'wait', refresh: true };
  return null;
}

/** The error TargetConn hands to pending replies when its connection dies. */
function isLost(e: RespError): boolean {
  return e.message.startsWith('ERR ferry: ');
}

/** CLUSTER SHARDS (7.0+), else CLUSTER NODES. */
export async function fetchTopology(call: (args: readonly Arg[]) => Promise<RespValue>): Promise<ClusterTopology> {
  const shards = await call(['CLUSTER', 'SHARDS']);
  if (!(shards instanceof RespError)) return parseClusterShards(shards);
  const nodes = await call(['CLUSTER', 'NODES']);
  if (nodes instanceof RespError) throw new Error(`the target does not answer CLUSTER NODES: ${nodes.message}`);
  return parseClusterNodes(String(nodes));
}

function nameOf(args: readonly Arg[]): string {
  const a = args[0];
  return (typeof a === 'string' ? a : String(a)).toLowerCase();
}

function keyText(a: Arg): string {
  const s = typeof a === 'string' ? a : a.toString();
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}


function isMsetArgs(argv: Buffer[]): boolean {
  return argv[0].length === 4 && argv[0].toString('latin1').toUpperCase() === 'MSET';
}

/** The arguments of one encoded RESP command (views into `bytes`). */
export function splitCommand(bytes: Buffer): Buffer[] {
  return splitCommands(bytes)[0];
}

/** The arguments of each of the encoded RESP commands in `bytes`, one after another (views). */
export function splitCommands(bytes: Buffer): Buffer[][] {
  let p = 0;
  const line = (): number => {
    const end = bytes.indexOf(13, p);
    const n = Number(bytes.toString('latin1', p + 1, end));
    p = end + 2;
    return n;
  };
  const cmds: Buffer[][] = [];
  while (p < bytes.length) {
    const argc = line();
    const out: Buffer[] = new Array(argc);
    for (let i = 0; i < argc; i++) {
      const len = line();
      out[i] = bytes.subarray(p, p + len);
      p += len + 2;
    }
    cmds.push(out);
  }
  return cmds;
}

function sleep(ms: number, timers: Set<NodeJS.Timeout>): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      timers.delete(t);
      resolve();
    }, ms);
    timers.add(t);
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: Error) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** The first of `tries` that resolves (tried in turn). */
async function firstAnswer<T>(tries: Array<() => Promise<T>>): Promise<T> {
  let last: Error = new Error('no node to ask');
  for (const t of tries) {
    try {
      return await withTimeout(t(), 5000, 'no answer');
    } catch (e) {
      last = e as Error;
    }
  }
  throw last;
}
