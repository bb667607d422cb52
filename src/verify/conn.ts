/**
 * The connections `ferry verify` reads through: one raw pipelined RESP connection per server (the
 * engine's TargetConn: one socket write per batch, replies matched in order, Buffers that are
 * slices of the socket's chunks), because reading both sides of 1M keys through ioredis costs
 * more in JavaScript than the servers spend answering.
 *
 * The address goes through `connectEndpoint` first (core/connect.ts), so an unreachable server, a
 * wrong password or a missing permission is the same one-line error as in `ferry run`, and the
 * connection is named `ferry-verify…` (CLIENT SETNAME) so the drain step never counts it as an
 * application client.
 */
import { noPermissionError } from '../core/acl.js';
import { probePermissions, verifyPermissions } from '../core/permissions.js';
import { connectEndpoint, ferryClientName } from '../core/connect.js';
import { type Endpoint, type TlsOptions, tlsSocketOptions } from '../core/endpoint.js';
import { ExitCode, FerryError } from '../core/errors.js';
import { TargetConn } from '../engine/apply/target-conn.js';
import { ClusterBackend, type VerifyBackend } from './cluster-conn.js';
import { RespError, type RespValue } from '../engine/resp/decoder.js';
import type { Arg } from '../engine/resp/encoder.js';

export type Side = 'source' | 'target';

/** A pipelined connection to one side; `db` follows the SELECTs queued so far. */
export class VerifyConn {
  private db = 0;
  private dead: Error | null = null;

  private constructor(
    readonly side: Side,
    private readonly conn: VerifyBackend,
  ) {}

  /** A Redis Cluster (every key command routed by slot; no multi-key commands across slots). */
  get cluster(): boolean {
    return this.conn instanceof ClusterBackend;
  }

  /** Checks the address like `ferry run` does, then opens the raw connection and names it. */
  static async open(e: Endpoint, side: Side, tls?: TlsOptions): Promise<VerifyConn> {
    const flag = side === 'source' ? '--from' : '--to';
    const probe = await connectEndpoint(e, { role: `verify${side}`, flag, tls });
    let cluster = false;
    try {
      cluster = /^cluster_enabled:1/m.test(await probe.info('cluster'));
      // Every rule verify needs, checked before the first key is read (core/permissions.ts).
      const version = /redis_version:(\S+)/.exec(await probe.info('server'))?.[1] ?? '0';
      const [missing] = await probePermissions(probe, side, verifyPermissions(), version, ferryClientName(`verify${side}`));
      if (missing) throw noPermissionError(side, missing.probe ?? [missing.command], missing.message, true);
    } finally {
      probe.disconnect();
    }
    let self: VerifyConn | undefined;
    if (cluster) {
      // A Redis Cluster: every master, through the engine's slot router (cluster-conn.ts).
      try {
        const backend = await ClusterBackend.open(e, e.tls ? tlsSocketOptions(tls) : undefined, (err) => {
          if (self) self.dead ??= err;
        });
        self = new VerifyConn(side, backend);
        return self;
      } catch (err) {
        throw new FerryError(`${(err as Error).message}; check ${flag}`, ExitCode.usage);
      }
    }
    const conn = new TargetConn({
      endpoint: e,
      role: side,
      tls: e.tls ? tlsSocketOptions(tls) : undefined,
      windowBytes: 64 * 1024 * 1024,
      onFatal: (err) => {
        if (self) self.dead = err;
      },
    });
    try {
      await conn.connect();
    } catch (err) {
      throw new FerryError(`${(err as Error).message}; check ${flag}`, ExitCode.usage);
    }
    self = new VerifyConn(side, conn);
    await self.call(['CLIENT', 'SETNAME', ferryClientName(`verify${side}`)]);
    return self;
  }

  /** Queues SELECT when the next commands are for another db than the last ones. */
  use(db: number): void {
    if (db === this.db) return;
    this.db = db;
    this.conn.send(['SELECT', db], (r) => {
      if (r instanceof RespError) this.dead ??= this.replyError(['SELECT', db], r);
    });
  }

  /** Queues one command; `onReply` gets its reply (an error reply comes as a RespError). */
  send(args: readonly Arg[], onReply: (r: RespValue) => void): void {
    this.conn.send(args, onReply);
  }

  /**
   * Queues `cmds` (each in db `db`, or `db[i]`; default: the db of the last commands) and resolves
   * with their replies in order. An error reply that says the connection is gone, or a missing
   * permission, rejects (one line naming the rule to add); other error replies come as values.
   * `caps[i]`: a bulk reply to command i longer than that comes as a SkippedBulk.
   */
  batch(cmds: ReadonlyArray<readonly Arg[]>, db?: number | readonly number[], caps?: readonly number[]): Promise<RespValue[]> {
    if (this.dead) return Promise.reject(this.dead);
    if (cmds.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const out = new Array<RespValue>(cmds.length);
      let left = cmds.length;
      let failed: Error | null = null;
      cmds.forEach((args, i) => {
        if (db !== undefined) this.use(typeof db === 'number' ? db : db[i]);
        this.conn.send(
          args,
          (r) => {
            if (r instanceof RespError && !failed) failed = this.fatalReply(args, r);
            out[i] = r;
            if (--left === 0) (failed ? reject(failed) : resolve(out));
          },
          caps?.[i],
        );
      });
    });
  }

  /** `batch` with a cap per command on the length of a bulk reply (over it: a SkippedBulk). */
  batchCapped(cmds: ReadonlyArray<readonly Arg[]>, db: readonly number[], caps: readonly number[]): Promise<RespValue[]> {
    return this.batch(cmds, db, caps);
  }

  /** The error for a reply of an unexpected shape (or an error reply) to `args`. */
  unexpected(args: readonly Arg[], r: RespValue): Error {
    if (this.dead) return this.dead;
    if (r instanceof RespError) return this.replyError(args, r);
    return new FerryError(`the ${this.side} answered ${String(args[0]).toUpperCase()} with an unexpected reply`, ExitCode.stepFailed);
  }

  /** One command, one reply (control path). */
  async call(args: readonly Arg[], db?: number): Promise<RespValue> {
    return (await this.batch([args], db))[0];
  }

  /** Resolves once every queued command has its reply. */
  async idle(): Promise<void> {
    await this.conn.whenIdle();
    if (this.dead) throw this.dead;
  }

  close(): void {
    this.conn.close();
  }

  /** The error a reply should raise, or null when it is a value the caller handles. */
  private fatalReply(args: readonly Arg[], r: RespError): Error | null {
    if (this.dead) return this.dead;
    if (r.message.startsWith('ERR ferry:') || /^NOPERM/.test(r.message)) return this.replyError(args, r);
    return null;
  }

  private replyError(args: readonly Arg[], r: RespError): Error {
    if (/^NOPERM/.test(r.message)) return noPermissionError(this.side, args, r.message, true);
    const what = String(args[0]).toUpperCase();
    return new FerryError(`the ${this.side} answered ${what} with "${r.message.split('\n')[0]}"`, ExitCode.stepFailed);
  }
}
