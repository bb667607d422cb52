/**
 * What a link of a cluster source must never apply (each targets.ts target stops before it):
 *
 * - `FLUSHALL`/`FLUSHDB` from one shard empties that shard only; on a target that holds every shard
 *   it would delete the others' keys too.
 * - `RESTORE-ASKING`: a key arriving by MIGRATE, i.e. a slot migration on the source (redis-cli
 *   --cluster reshard). The source shard sends the key as RESTORE-ASKING to the importing shard
 *   (which propagates it as is) and propagates a DEL of it (redis src/cluster.c migrateCommand:
 *   "Translate MIGRATE as DEL for replication/AOF"). The two links see the two in either order: a
 *   RESTORE applied before the DEL would lose the key. ferry stops before applying the RESTORE, so
 *   what it applied is still a consistent prefix of each shard's history and no run can complete
 *   with the key missing.
 */
import { isWord } from '../replication/source-link.js';

/** The reason to stop before `argv`, or null. */
export function shardStreamRefusal(argv: Buffer[]): string | null {
  const name = argv[0];
  if (isWord(name, 'FLUSHALL') || isWord(name, 'FLUSHDB')) {
    return `a source shard ran ${name.toString().toUpperCase()}, which empties that shard only; ferry cannot apply it to a target that holds the other shards' keys too. Start the migration again (--flush-target) once the source is stable`;
  }
  // NOTE: not isWord(): its case folding is for letters only, and this name has a '-'.
  if (name.length === 14 && name.toString('latin1').toUpperCase() === 'RESTORE-ASKING') {
    return `a slot migration is moving keys between source shards (RESTORE-ASKING of '${argv[1]?.toString().slice(0, 60)}'); ferry stopped before applying it, because two shard links see a migrated key's RESTORE and DEL in either order. Finish the resharding, then start the sync again with --flush-target`;
  }
  return null;
}

