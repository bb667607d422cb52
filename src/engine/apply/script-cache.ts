/**
 * The scripts the engine, as a replica, is assumed to know: what lets it apply `EVALSHA` from a
 * source that replicates scripts verbatim (Redis 5.0 to 6.2 with `lua-replicate-commands no`).
 *
 * How Redis' own replica copes (redis 5.0.14 / 6.2.16):
 * - the master keeps a "replication script cache" of the SHA1s every replica knows, flushed when a
 *   full sync starts (replication.c startBgsaveForReplication → replicationScriptCacheFlush); an
 *   EVALSHA of a script not in it goes out as `EVAL body …` (or `SCRIPT LOAD body` when it wrote
 *   nothing) and is added (scripting.c evalGenericCommand), SCRIPT LOAD and EVAL add theirs;
 * - the full sync's RDB carries every script as an AUX field `lua` (rdb.c rdbSaveRio), which the
 *   replica loads into its script cache (rdb.c rdbLoadRio: luaCreateFunction).
 * So the replica's cache is the RDB's scripts plus every EVAL/SCRIPT LOAD since. The engine keeps
 * the same set (with the bodies) and sends every EVALSHA it knows as EVAL: the target then runs
 * it whatever its own cache holds (flushed, restarted). An EVALSHA it does not know (possible only
 * after a ferry restart resumed with a partial resync) goes out as is.
 */
import { createHash } from 'node:crypto';

/** SHA1 (lowercase hex) → script body. */
export class ScriptCache {
  private readonly bodies = new Map<string, Buffer>();

  /** Records a script body (RDB `lua` AUX, EVAL, SCRIPT LOAD); returns its SHA1. */
  add(body: Buffer): string {
    const sha = createHash('sha1').update(body).digest('hex');
    if (!this.bodies.has(sha)) this.bodies.set(sha, Buffer.from(body)); // a copy: argv buffers are reused
    return sha;
  }

  /** The body of a SHA1 (case-insensitive), if known. */
  get(sha: Buffer | string): Buffer | undefined {
    return this.bodies.get(sha.toString().toLowerCase());
  }

  /** SCRIPT FLUSH on the source: its scripts are gone, and the target's too once it is applied. */
  clear(): void {
    this.bodies.clear();
  }

  get size(): number {
    return this.bodies.size;
  }

  /** Carries the set over to the applier of the next connection (partial resync). */
  copyFrom(other: ScriptCache): void {
    for (const [k, v] of other.bodies) this.bodies.set(k, v);
  }
}
