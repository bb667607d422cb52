/**
 * Where the engine stands: source replication id, the offset APPLIED to the target, and the source
 * db the stream is in at that offset (after +CONTINUE the master does not repeat SELECT).
 *
 * Exactly-once design (issue 4, "Resume"): the checkpoint is written INTO THE TARGET under one
 * reserved key (`CHECKPOINT_KEY`, db 0) inside the same MULTI/EXEC as every batch of stream commands
 * it covers. The target therefore holds either a batch and the offset after it, or neither —
 * whatever moment ferry is killed. On restart the key (if present) is the truth; ferry PSYNCs from
 * offset + 1 and the master resends exactly what is missing. The state file mirrors the key (written
 * at most once a second and at every stop) for `ferry status` and for the time after a clean stop,
 * when the key is deleted so the target holds only the source's data.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../core/errors.js';

/** The reserved key in target db 0. */
export const CHECKPOINT_KEY = '__ferry:sync:checkpoint';

export interface Checkpoint {
  replid: string;
  /** Replication offset applied to the target. */
  offset: number;
  /** Source db the stream is in at `offset`. */
  db: number;
  /** 'rdb' while a full sync is loading (the target holds a partial copy), 'stream' after. */
  phase: 'rdb' | 'stream';
}

/** Serialises a checkpoint for the target key. */
export function encodeCheckpoint(c: Checkpoint): string {
  return JSON.stringify({ v: 1, ...c });
}

/** Parses the target key's value; null when absent or not ours. */
export function decodeCheckpoint(text: string | Buffer | null | undefined): Checkpoint | null {
  if (text === null || text === undefined) return null;
  try {
    const o = JSON.parse(String(text)) as Partial<Checkpoint> & { v?: number };
    if (o.v !== 1 || typeof o.replid !== 'string' || typeof o.offset !== 'number' || typeof o.db !== 'number') return null;
    return { replid: o.replid, offset: o.offset, db: o.db, phase: o.phase === 'rdb' ? 'rdb' : 'stream' };
  } catch {
    return null;
  }
}

/** The `ferry sync` state file: public endpoints and the last checkpoint. No secrets. */
export interface SyncStateFile {
  version: 1;
  kind: 'ferry-sync';
  from: string;
  to: string;
  checkpoint: Checkpoint | null;
  /** True once the checkpoint key was removed from the target after a clean stop. */
  stoppedCleanly: boolean;
  /** `--backlog`: the source's repl-backlog-size before ferry raised it, and the value it set. */
  sourceBacklog?: { original: number; set: number };
  updatedAt: string;
}

/** Writes a file atomically (temp + fsync + rename), mode 0600: the shared helper. */
export { writeFileAtomic } from '../core/atomic-file.js';

/** Reads a sync state file; null when it does not exist. */
export function readSyncState(path: string): SyncStateFile | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UsageError(`cannot read the state file ${path}: ${(e as Error).message}`);
  }
  let o: SyncStateFile;
  try {
    o = JSON.parse(text) as SyncStateFile;
  } catch {
    throw new UsageError(`the state file ${path} is not valid JSON; remove it to start over`);
  }
  if (o.version !== 1 || o.kind !== 'ferry-sync') {
    throw new UsageError(`the state file ${path} is not a ferry sync state (version 1); use another --state path`);
  }
  return o;
}
