/**
 * A pipelined connection to the target over a raw socket: the engine's hot path. Commands are
 * encoded into one growing buffer and written once per batch; replies are matched in order.
 * Unanswered bytes are capped by a window: `full` tells the caller to stop reading the source,
 * and `onWindow` fires when there is room again, so memory stays bounded whatever the dataset.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Endpoint } from '../../core/endpoint.js';
import { CommandBuffer, type Arg } from '../resp/encoder.js';
import { RespDecoder, RespError, type RespValue } from '../resp/decoder.js';
import { resolveEndpoint } from '../../core/sentinel.js';

import type { CommandSink, ReplyHandler } from './target.js';

export type { ReplyHandler };

export interface TargetConnOptions {
  endpoint: Endpoint;
  /** Cap on bytes sent and not yet answered (default 16 MiB). */
  windowBytes?: number;
  /** A reply error for a command sent without a handler (default: thrown to onFatal). */
  onUnhandledError?(err: RespError): void;
  /** The connection broke: the writer cannot go on. */
  onFatal(err: Error): void;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean };
  /** Which server this is, for messages (default 'target'; `ferry verify` also opens one to the source). */
  role?: 'source' | 'target';
}

/** See the file comment. */
export class TargetConn implements CommandSink {
  /** Bytes sent (or buffered to send) whose replies have not arrived. */
  unanswered = 0;
  /** Replies received in total. */
  replies = 0;

  private socket!: Socket;
  private out = new CommandBuffer();
  private decoder = new RespDecoder();
  // Pending replies, in order: size of each command and its handler (sparse).
  private sizes: number[] = [];
  private handlers: Array<ReplyHandler | undefined> = [];
  /** Per pending command: the longest bulk string its reply may carry (sparse; absent = no cap). */
  private caps: Array<number | undefined> = [];
  private head = 0;
  private flushScheduled = false;
  private idleWaiters: Array<() => void> = [];
  private windowWaiters: Array<() => void> = [];
  private dead: Error | null = null;
  readonly windowBytes: number;

  private readonly role: 'source' | 'target';

  constructor(private readonly opts: TargetConnOptions) {
    this.windowBytes = opts.windowBytes ?? 16 * 1024 * 1024;
    this.role = opts.role ?? 'target';
  }

  /** Connects and authenticates (a `sentinel://` endpoint not resolved yet is resolved first). */
  async connect(): Promise<void> {
    const e = await resolveEndpoint(this.opts.endpoint);
    await new Promise<void>((resolve, reject) => {
      const sock = e.tls
        ? tlsConnect({ host: e.host, port: e.port, servername: e.host, ...this.opts.tls }, () => resolve())
        : netConnect({ host: e.host, port: e.port }, () => resolve());
      sock.once('error', (err) => reject(new Error(`cannot connect to the ${this.role} ${e.host}:${e.port}: ${err.message}`)));
      this.socket = sock;
    });
    const sock = this.socket;
    sock.removeAllListeners('error');
    sock.setNoDelay(true);
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (err) => this.fail(new Error(`${this.role} connection: ${err.message}`)));
    sock.on('close', () => this.fail(new Error(`${this.role} connection closed`)));
    if (e.password !== undefined) {
      const r = await this.call(e.username ? ['AUTH', e.username, e.password] : ['AUTH', e.password]);
      const [flag, env] = this.role === 'source' ? ['--from', 'FERRY_FROM_PASSWORD'] : ['--to', 'FERRY_TO_PASSWORD'];
      if (r instanceof RespError) throw new Error(`${this.role} refused AUTH: ${r.message}; check the password in ${flag} or ${env}`);
    }
  }

  /**
   * Queues a command; `onReply` gets its reply (errors included). Returns its encoded size. With
   * `maxBulk`, a bulk string in its reply longer than that is dropped as it arrives and handed over
   * as a SkippedBulk (resp/decoder.ts).
   */
  send(args: readonly Arg[], onReply?: ReplyHandler, maxBulk?: number): number {
    const n = this.out.push(args);
    this.expect(n, onReply);
    if (maxBulk !== undefined) {
      this.caps[this.sizes.length - 1] = maxBulk;
      if (this.pending === 1) this.decoder.maxBulk = maxBulk; // the next reply is this one's
    }
    this.afterQueue();
    return n;
  }

  /** Queues bytes that are already one RESP command. */
  sendRaw(bytes: Buffer, onReply?: ReplyHandler): void {
    this.out.pushRaw(bytes);
    this.expect(bytes.length, onReply);
    this.afterQueue();
  }

  /**
   * Queues bytes that are `count` RESP commands; `onReply` gets one reply for them all, once the
   * last has come: the first error among them, else the last reply.
   */
  sendRawMany(bytes: Buffer, count: number, onReply?: ReplyHandler): void {
    this.out.pushRaw(bytes);
    let left = count;
    let err: RespError | null = null;
    const each: ReplyHandler = (r) => {
      if (r instanceof RespError) err ??= r;
      if (--left === 0) onReply?.(err ?? r);
    };
    for (let i = 1; i < count; i++) this.expect(0, each);
    this.expect(bytes.length, each);
    this.afterQueue();
  }

  /** Queues one command of `n` bytes that `fill` encodes in place (see CommandBuffer.pushWith). */
  sendWith(n: number, fill: (buf: Buffer, off: number) => number, onReply?: ReplyHandler): void {
    this.out.pushWith(n, fill);
    this.expect(n, onReply);
    this.afterQueue();
  }

  /** Sends one command and waits for its reply (control path). */
  call(args: readonly Arg[]): Promise<RespValue> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve) => {
      this.send(args, resolve);
      this.flush();
    });
  }

  /** Writes everything queued. */
  flush(): void {
    if (this.dead) return;
    const parts = this.out.take();
    if (parts.length === 0) return;
    if (parts.length === 1) {
      this.socket.write(parts[0]);
      return;
    }
    this.socket.cork();
    for (const p of parts) this.socket.write(p);
    this.socket.uncork();
  }

  /** True when the window is used up: stop producing until `waitForWindow` resolves. */
  get full(): boolean {
    return this.unanswered >= this.windowBytes;
  }

  /** Resolves once the unanswered bytes fall under half the window. */
  waitForWindow(): Promise<void> {
    if (this.unanswered < this.windowBytes / 2) return Promise.resolve();
    this.flush();
    return new Promise((r) => this.windowWaiters.push(r));
  }

  /** Resolves when every command sent so far has its reply. */
  whenIdle(): Promise<void> {
    this.flush();
    if (this.pending === 0) return this.dead ? Promise.reject(this.dead) : Promise.resolve();
    return new Promise((resolve, reject) => {
      this.idleWaiters.push(() => (this.dead ? reject(this.dead) : resolve()));
    });
  }

  /** Commands awaiting a reply. */
  get pending(): number {
    return this.sizes.length - this.head;
  }

  /** Closes the socket. */
  close(): void {
    if (!this.dead) this.dead = new Error(`${this.role} connection closed by ferry`);
    this.socket?.destroy();
    this.wakeAll();
  }

  private expect(n: number, onReply: ReplyHandler | undefined): void {
    this.sizes.push(n);
    this.handlers.push(onReply);
    this.unanswered += n;
  }

  private afterQueue(): void {
    if (this.out.size >= 1024 * 1024) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private onData(chunk: Buffer): void {
    const dec = this.decoder;
    dec.write(chunk);
    try {
      dec.drain((v) => this.onReply(v));
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    if (this.head > 4096 && this.head * 2 > this.sizes.length) {
      this.sizes = this.sizes.slice(this.head);
      this.handlers = this.handlers.slice(this.head);
      if (this.caps.length) this.caps = this.caps.slice(this.head);
      this.head = 0;
    }
    if (this.windowWaiters.length && this.unanswered < this.windowBytes / 2) {
      const ws = this.windowWaiters;
      this.windowWaiters = [];
      for (const w of ws) w();
    }
    if (this.pending === 0 && this.idleWaiters.length) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }

  private onReply(v: RespValue): void {
    const i = this.head++;
    if (i >= this.sizes.length) throw new Error(`${this.role} sent a reply nobody asked for`);
    this.unanswered -= this.sizes[i];
    this.replies++;
    // The decoder is between values now: give it the cap of the next reply.
    if (this.caps.length) this.decoder.maxBulk = this.caps[this.head] ?? Infinity;
    const h = this.handlers[i];
    if (h) {
      this.handlers[i] = undefined;
      h(v);
    } else if (v instanceof RespError) {
      if (this.opts.onUnhandledError) this.opts.onUnhandledError(v);
      else this.fail(new Error(`target replied: ${v.message}`));
    }
  }

  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    this.socket?.destroy();
    // Whoever waits for a reply learns that it will not come.
    const lost = new RespError(`ERR ferry: ${err.message}`);
    for (let i = this.head; i < this.handlers.length; i++) this.handlers[i]?.(lost);
    this.sizes = [];
    this.handlers = [];
    this.caps = [];
    this.head = 0;
    this.wakeAll();
    this.opts.onFatal(err);
  }

  private wakeAll(): void {
    const ws = [...this.idleWaiters, ...this.windowWaiters];
    this.idleWaiters = [];
    this.windowWaiters = [];
    for (const w of ws) w();
  }
}
