/**
 * `ferry verify` against a Redis Cluster: the same pipelined command interface as one server
 * (conn.ts), backed by the engine's slot router (engine/cluster/router.ts: one connection per
 * master, every key command to the master owning its slot, MOVED/ASK followed). What a single
 * connection cannot answer for a whole cluster is answered here:
 *
 * - `SCAN cursor …`: every master in turn; the cursor is `<master>.<that master's cursor>` (`0`
 *   starts and ends, as on one server);
 * - `INFO keyspace`: `db0:keys=<the masters' sum>` (a cluster has only db 0); other INFO sections
 *   come from one master;
 * - `RANDOMKEY`: a master drawn with a probability proportional to its keys (DBSIZE read at the
 *   start), then its RANDOMKEY, so every key of the cluster is as likely;
 * - `EXISTS k1 … kn`: one EXISTS per key, summed; `SELECT 0` is a no-op (another db is an error);
 *   `CLIENT SETNAME` names nothing (the router's connections are the engine's).
 *
 * A reply is never capped here (the `maxBulk` of one server's connection): a target value far
 * bigger than the source's is read whole before it is classed.
 */
import type { Endpoint } from '../core/endpoint.js';
import type { ReplyHandler } from '../engine/apply/target.js';
import { SlotRouter } from '../engine/cluster/router.js';
import { RespError, type RespValue } from '../engine/resp/decoder.js';
import type { Arg } from '../engine/resp/encoder.js';

/** What VerifyConn needs from its connection (TargetConn for one server, this for a cluster). */
export interface VerifyBackend {
  /** `maxBulk`: a bulk reply longer than this comes as a SkippedBulk (one server only, see ClusterBackend.send). */
  send(args: readonly Arg[], onReply: ReplyHandler, maxBulk?: number): void;
  whenIdle(): Promise<void>;
  close(): void;
}

/** See the file comment. */
export class ClusterBackend implements VerifyBackend {
  private weights: number[] = [];

  private constructor(private readonly router: SlotRouter) {}

  static async open(e: Endpoint, tls: ConstructorParameters<typeof SlotRouter>[0]['tls'], onFatal: (err: Error) => void): Promise<ClusterBackend> {
    const router = new SlotRouter({ seed: e, tls, onBroken: onFatal, onFatal });
    await router.connect();
    const b = new ClusterBackend(router);
    b.weights = (await router.callAll(['DBSIZE'])).map(Number);
    return b;
  }

  send(args: readonly Arg[], onReply: ReplyHandler): void {
    const name = String(args[0]).toUpperCase();
    const sub = args.length > 1 ? String(args[1]).toUpperCase() : '';
    if (name === 'SELECT') return onReply(Number(String(args[1])) === 0 ? 'OK' : new RespError('ERR a cluster has only db 0'));
    if (name === 'CLIENT' && sub === 'SETNAME') return onReply('OK');
    if (name === 'INFO' && sub === 'KEYSPACE') return void this.keyspace().then(onReply, (e: Error) => onReply(new RespError(`ERR ferry: ${e.message}`)));
    if (name === 'SCAN') return void this.scan(args).then(onReply, (e: Error) => onReply(new RespError(`ERR ferry: ${e.message}`)));
    if (name === 'RANDOMKEY') return void this.randomKey().then(onReply, (e: Error) => onReply(new RespError(`ERR ferry: ${e.message}`)));
    if (name === 'EXISTS' && args.length > 2) return void this.exists(args.slice(1)).then(onReply);
    const pos = this.router.keys.keysOf(args);
    if (Array.isArray(pos) && pos.length === 0) {
      // Keyless (INFO server, INFO replication, …): one master answers.
      return void this.router.call(args).then(onReply, (e: Error) => onReply(new RespError(`ERR ferry: ${e.message}`)));
    }
    void this.router.request(args).then(onReply);
  }

  whenIdle(): Promise<void> {
    return this.router.whenIdle();
  }

  close(): void {
    this.router.close();
  }

  private masters(): ReturnType<SlotRouter['masters']> {
    return this.router.masters();
  }

  private async keyspace(): Promise<string> {
    const sizes = (await this.router.callAll(['DBSIZE'])).map(Number);
    const keys = sizes.reduce((a, b) => a + b, 0);
    return `# Keyspace\r\n${keys > 0 ? `db0:keys=${keys},expires=0,avg_ttl=0\r\n` : ''}`;
  }

  private async scan(args: readonly Arg[]): Promise<RespValue> {
    const [at, cursor] = String(args[1]) === '0' ? [0, '0'] : String(args[1]).split('.');
    const i = Number(at);
    const masters = this.masters();
    if (i >= masters.length) return [Buffer.from('0'), []];
    const conn = masters[i].conn;
    if (!conn) throw new Error(`the master ${masters[i].addr} is not connected`);
    const r = (await conn.call(['SCAN', cursor, ...args.slice(2)])) as RespValue;
    if (r instanceof RespError) return r;
    const [next, keys] = r as [Buffer, Buffer[]];
    if (String(next) !== '0') return [Buffer.from(`${i}.${String(next)}`), keys];
    return [Buffer.from(i + 1 < masters.length ? `${i + 1}.0` : '0'), keys];
  }

  private async randomKey(): Promise<RespValue> {
    const masters = this.masters();
    const total = this.weights.reduce((a, b) => a + b, 0);
    let pick = Math.random() * total;
    let i = 0;
    while (i < masters.length - 1 && pick >= (this.weights[i] ?? 0)) pick -= this.weights[i++] ?? 0;
    const conn = masters[i]?.conn;
    if (!conn) return null;
    return conn.call(['RANDOMKEY']);
  }

  private async exists(keys: readonly Arg[]): Promise<RespValue> {
    const replies = await Promise.all(keys.map((k) => this.router.request(['EXISTS', k])));
    const err = replies.find((r) => r instanceof RespError);
    return err ?? replies.reduce<number>((n, r) => n + Number(r), 0);
  }
}
