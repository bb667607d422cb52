/**
 * One replication connection to the source master, as a replica (REPLICATION-FACTS A):
 *
 *   PING → [AUTH [user] pass] → REPLCONF listening-port → REPLCONF capa eof capa psync2
 *   → (every reply read) → PSYNC <replid> <offset> | PSYNC ? -1
 *   → +FULLRESYNC <replid> <offset> + RDB payload, or +CONTINUE [<replid>]
 *   → the command stream (RESP multibulk), PINGs and REPLCONF GETACK * included.
 *
 * The link only speaks the protocol and counts offsets; what to do with the RDB and the commands
 * is the caller's business (sync.ts). It answers GETACK and sends a REPLCONF ACK every second with
 * the offset the caller reports as APPLIED to the target, never merely received. A connection
 * that stays silent longer than `silenceTimeoutMs` (while ferry is reading) is closed.
 * One SourceLink is one TCP connection: reconnecting is the caller's loop.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Endpoint } from '../../core/endpoint.js';
import { encodeCommand, type Arg } from '../resp/encoder.js';
import { NEED_MORE, RespDecoder, RespError, type RespValue } from '../resp/decoder.js';
import { PayloadFramer } from './payload.js';

/** Outcome of PSYNC. */
export type PsyncResult =
  | { kind: 'full'; replid: string; offset: number }
  | { kind: 'continue'; replid: string; offset: number };

/** A link failure worth a reconnect (network, timeout) vs a fatal one (auth, protocol). */
export class LinkError extends Error {
  constructor(
    message: string,
    readonly fatal = false,
  ) {
    super(message);
    this.name = 'LinkError';
  }
}

/** What the caller does with the data after PSYNC. */
export interface LinkHandlers {
  /** The PSYNC reply, before any byte after it is handled (set up the RDB or the stream here). */
  onPsync?(r: PsyncResult): void;
  /** RDB payload bytes (framing removed), in order. */
  onRdbData?(chunk: Buffer): void;
  /** The payload is complete; the command stream follows. */
  onRdbEnd?(info: { mode: 'disk' | 'diskless'; bytes: number }): void;
  /**
   * One stream command. `offset` is the replication offset after its bytes. PING and REPLCONF
   * are passed too (they count in offsets) so the caller can advance its applied offset.
   */
  onCommand(argv: Buffer[], offset: number): void;
  /** All commands of one socket read have been delivered: a good moment to flush a batch. */
  onBatchEnd?(): void;
  /** The connection ended (error or close); called once. */
  onClose(err: LinkError): void;
}

export interface SourceLinkOptions {
  endpoint: Endpoint;
  /** Port announced with REPLCONF listening-port (0 by default: ferry is not a server). */
  listeningPort?: number;
  /** Close the link after this long without a byte from the master (default 60 s, = repl-timeout). */
  silenceTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** The offset applied to the target, for ACKs. */
  appliedOffset(): number;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean };
}

type Phase = 'handshake' | 'payload' | 'stream' | 'closed';

/** See the file comment. */
export class SourceLink {
  /** Replication offset of the last complete command received. */
  offset = 0;
  replid = '';
  /** Bytes of RDB payload received. */
  payloadBytes = 0;
  payloadTotal = -1;

  private socket!: Socket;
  private decoder = new RespDecoder();
  private phase: Phase = 'handshake';
  private waiters: Array<{ resolve(v: RespValue): void; reject(e: Error): void }> = [];
  private handlers: LinkHandlers | null = null;
  private framer: PayloadFramer | null = null;
  private psyncWaiter: { resolve(r: PsyncResult): void; reject(e: Error): void; requested: number } | null = null;
  private lastDataAt = Date.now();
  private paused = false;
  private timers: NodeJS.Timeout[] = [];
  private closedErr: LinkError | null = null;
  private acking = false;

  constructor(private readonly opts: SourceLinkOptions) {}

  /** Opens the TCP connection and runs the handshake up to (not including) PSYNC. */
  async connect(): Promise<void> {
    const { endpoint } = this.opts;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => reject(new LinkError(`cannot connect to the source ${endpoint.host}:${endpoint.port}: ${e.message}`));
      const sock = endpoint.tls
        ? tlsConnect({ host: endpoint.host, port: endpoint.port, servername: endpoint.host, ...this.opts.tls }, () => resolve())
        : netConnect({ host: endpoint.host, port: endpoint.port }, () => resolve());
      sock.once('error', onError);
      // NOTE: close() during the connect destroys the socket without an 'error': end here too.
      sock.once('close', () => reject(this.closedErr ?? new LinkError('source link closed while connecting')));
      sock.setTimeout(this.opts.connectTimeoutMs ?? 10_000, () => sock.destroy(new Error('connect timeout')));
      this.socket = sock;
    });
    if (this.closedErr) throw this.closedErr;
    const sock = this.socket;
    sock.removeAllListeners('error');
    sock.removeAllListeners('close');
    sock.setTimeout(0);
    sock.setNoDelay(true);
    sock.setKeepAlive(true, 10_000);
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (e) => this.close(new LinkError(`source link: ${e.message}`)));
    sock.on('close', () => this.close(new LinkError('source link closed')));
    this.watchSilence();
    try {
      await this.handshake();
    } catch (e) {
      // NOTE: a refused handshake (a source still -LOADING, say) must not leave its socket open:
      // the engine reconnects with a new link, and an open socket would keep the process alive.
      this.close(e instanceof LinkError ? e : new LinkError(`source link: ${(e as Error).message}`));
      throw e;
    }
  }

  private async handshake(): Promise<void> {
    const { endpoint } = this.opts;
    const pong = await this.command(['PING']);
    const needAuth = pong instanceof RespError && /NOAUTH|NOPERM|not permitted/i.test(pong.message);
    // NOTE: a source that is restarting answers -LOADING until its dataset is in memory: retry.
    if (pong instanceof RespError && !needAuth) throw new LinkError(`source refused PING: ${pong.message}`, !/^(LOADING|BUSY|TRYAGAIN)/.test(pong.message));
    if (endpoint.password !== undefined) {
      const args: Arg[] = endpoint.username ? ['AUTH', endpoint.username, endpoint.password] : ['AUTH', endpoint.password];
      const r = await this.command(args);
      if (r instanceof RespError) throw new LinkError(`source refused AUTH: ${r.message}; check the password in --from or FERRY_FROM_PASSWORD`, true);
    } else if (needAuth) {
      throw new LinkError('the source needs a password: put it in --from (redis://:PASS@host:port) or FERRY_FROM_PASSWORD', true);
    }
    // Non-fatal: an old master may not know listening-port; unknown capabilities are ignored.
    await this.command(['REPLCONF', 'listening-port', this.opts.listeningPort ?? 0]);
    const capa = await this.command(['REPLCONF', 'capa', 'eof', 'capa', 'psync2']);
    if (capa instanceof RespError && /NOAUTH|NOPERM/.test(capa.message)) throw new LinkError(`source refused REPLCONF: ${capa.message}`, true);
  }

  /**
   * Sends PSYNC (after every earlier reply has been read, as the master requires) and resolves
   * with +FULLRESYNC or +CONTINUE. Data handling starts with `handlers` right after the reply.
   */
  psync(replid: string | null, offset: number, handlers: LinkHandlers): Promise<PsyncResult> {
    this.handlers = handlers;
    const requested = replid ? offset + 1 : -1;
    return new Promise<PsyncResult>((resolve, reject) => {
      this.psyncWaiter = { resolve, reject, requested };
      this.socket.write(encodeCommand(['PSYNC', replid ?? '?', requested]));
    });
  }

  /** Stops reading from the source (backpressure from the target writer). */
  pause(): void {
    if (this.paused || this.phase === 'closed') return;
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused || this.phase === 'closed') return;
    this.paused = false;
    this.lastDataAt = Date.now();
    this.socket.resume();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Sends REPLCONF ACK with the applied offset now (also done every second once streaming). */
  sendAck(): void {
    if (this.phase === 'closed' || !this.acking) return;
    this.socket.write(encodeCommand(['REPLCONF', 'ACK', this.opts.appliedOffset()]));
  }

  /** Closes the connection (idempotent). */
  close(err: LinkError = new LinkError('closed by ferry')): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.closedErr = err;
    for (const t of this.timers) clearInterval(t);
    this.socket?.destroy();
    for (const w of this.waiters) w.reject(err);
    this.waiters = [];
    this.psyncWaiter?.reject(err);
    this.psyncWaiter = null;
    this.handlers?.onClose(err);
  }

  get closed(): boolean {
    return this.phase === 'closed';
  }

  private command(args: Arg[]): Promise<RespValue> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.socket.write(encodeCommand(args));
    });
  }

  private watchSilence(): void {
    const limit = this.opts.silenceTimeoutMs ?? 60_000;
    const t = setInterval(() => {
      if (this.paused) return;
      if (Date.now() - this.lastDataAt > limit) {
        this.close(new LinkError(`the source sent nothing for ${Math.round(limit / 1000)}s`));
      }
    }, Math.min(1000, limit / 2));
    t.unref();
    this.timers.push(t);
  }

  private startAcks(): void {
    this.acking = true;
    const t = setInterval(() => this.sendAck(), 1000);
    t.unref();
    this.timers.push(t);
  }

  private onData(chunk: Buffer): void {
    this.lastDataAt = Date.now();
    try {
      if (this.phase === 'handshake') this.onHandshakeData(chunk);
      else if (this.phase === 'payload') this.onPayloadData(chunk);
      else if (this.phase === 'stream') this.onStreamData(chunk);
    } catch (e) {
      const err = e instanceof LinkError ? e : new LinkError(`source link: ${(e as Error).message}`, !(e instanceof Error && /ECONN/.test(e.message)));
      this.close(err);
    }
  }

  private onHandshakeData(chunk: Buffer): void {
    this.decoder.write(chunk);
    for (;;) {
      const v = this.decoder.read();
      if (v === NEED_MORE) return;
      const w = this.waiters.shift();
      if (w) {
        w.resolve(v);
        continue;
      }
      if (this.psyncWaiter) {
        this.onPsyncReply(v);
        return;
      }
      throw new LinkError(`unexpected reply during the handshake: ${String(v).slice(0, 80)}`, true);
    }
  }

  private onPsyncReply(v: RespValue): void {
    const w = this.psyncWaiter!;
    this.psyncWaiter = null;
    if (v instanceof RespError) {
      const transient = /NOMASTERLINK|LOADING|BUSY|TRYAGAIN/.test(v.message);
      w.reject(new LinkError(`source refused PSYNC: ${v.message}`, !transient));
      this.close(new LinkError(`PSYNC refused: ${v.message}`, !transient));
      return;
    }
    const text = String(v);
    const full = /^FULLRESYNC ([0-9a-f]{40}) (\d+)$/i.exec(text);
    if (full) {
      this.replid = full[1];
      this.offset = Number(full[2]);
      this.phase = 'payload';
      this.framer = new PayloadFramer();
      const rest = this.decoder.takeRest();
      const r: PsyncResult = { kind: 'full', replid: this.replid, offset: this.offset };
      this.handlers?.onPsync?.(r);
      w.resolve(r);
      if (rest.length) this.onPayloadData(rest);
      return;
    }
    const cont = /^CONTINUE(?: ([0-9a-f]{40}))?$/i.exec(text);
    if (cont) {
      if (cont[1]) this.replid = cont[1];
      this.offset = w.requested - 1;
      this.phase = 'stream';
      this.startAcks();
      const r: PsyncResult = { kind: 'continue', replid: this.replid, offset: this.offset };
      this.handlers?.onPsync?.(r);
      w.resolve(r);
      this.onStreamData(Buffer.alloc(0));
      return;
    }
    throw new LinkError(`unexpected PSYNC reply "${text.slice(0, 80)}" (a master older than 2.8 is not supported)`, true);
  }

  private onPayloadData(chunk: Buffer): void {
    const framer = this.framer!;
    const p = framer.push(chunk);
    this.payloadTotal = framer.total;
    for (const d of p.data) {
      this.payloadBytes += d.length;
      this.handlers?.onRdbData?.(d);
    }
    if (!p.done) return;
    this.phase = 'stream';
    this.handlers?.onRdbEnd?.({ mode: framer.mode as 'disk' | 'diskless', bytes: framer.received });
    this.startAcks();
    // NOTE: a diskless master sends no command until it gets an ACK, so send one right away.
    this.sendAck();
    this.onStreamData(p.rest ?? Buffer.alloc(0));
  }

  private onStreamData(chunk: Buffer): void {
    const dec = this.decoder;
    dec.write(chunk);
    const h = this.handlers!;
    let any = false;
    for (;;) {
      if (this.phase !== 'stream') return;
      const v = dec.read();
      if (v === NEED_MORE) break;
      this.offset += dec.lastLength;
      if (!Array.isArray(v)) throw new LinkError(`unexpected non-command in the replication stream: ${String(v).slice(0, 60)}`, true);
      const argv = v as Buffer[];
      if (argv.length === 3 && isWord(argv[0], 'REPLCONF') && isWord(argv[1], 'GETACK')) {
        // Answer with what is applied: it never exceeds the offset before this GETACK.
        this.sendAck();
      }
      h.onCommand(argv, this.offset);
      any = true;
    }
    if (any) h.onBatchEnd?.();
  }
}

/** Case-insensitive comparison of a command name with an upper-case ASCII word. */
export function isWord(b: Buffer | undefined, word: string): boolean {
  if (!b || b.length !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    if ((b[i] & 0xdf) !== word.charCodeAt(i)) return false;
  }
  return true;
}
