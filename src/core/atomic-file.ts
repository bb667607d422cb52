/**
 * Atomic file replacement for state files: a reader sees the old content or the new, never a
 * mix. Temp file (mode 0600) + fsync + rename + fsync of the directory.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Replaces `path` with `text` atomically, mode 0600, creating the directory if needed. */
export function writeFileAtomic(path: string, text: string): void {
  const dir = dirname(resolve(path));
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  try {
    const dfd = openSync(dir, 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    /* some filesystems refuse fsync on a directory; the rename is still atomic */
  }
}
