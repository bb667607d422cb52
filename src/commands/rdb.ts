/**
 * `ferry rdb inspect FILE [--json]`: the engine's RDB parser as a tool. Human summary (version, AUX
 * fields, keys per db by type, keys with TTL, biggest keys) or one JSON object per key per line
 * (shapes: src/engine/rdb/inspect.ts). Exit 2 when the file is missing or not a valid RDB.
 */
import type { Command } from 'commander';
import { UsageError } from '../core/errors.js';

/** Registers the `rdb` command group. */
export function register(program: Command): void {
  const rdb = program.command('rdb').description('work with RDB files');
  rdb
    .command('inspect')
    .argument('<file>', 'an RDB file (dump.rdb)')
    .option('--json', 'one JSON object per key per line instead of the summary')
    .description('summarize an RDB file, or dump its keys as JSON lines')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { inspectJson, inspectSummary, summaryText } = await import('../engine/rdb/inspect.js');
      const { RdbError } = await import('../engine/rdb/errors.js');
      try {
        if (opts.json) await inspectJson(file, writeOut);
        else process.stdout.write(summaryText(await inspectSummary(file)));
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (e instanceof RdbError) throw new UsageError(`${file}: ${e.message}`, e.hint);
        if (err.code === 'ENOENT' || err.code === 'EACCES' || err.code === 'EISDIR') {
          throw new UsageError(`cannot read ${file} (${err.code}): pass the path of an RDB file`);
        }
        throw e;
      }
    });
}

/** Writes to stdout, waiting for 'drain' when its buffer is full (big files, slow pipes). */
function writeOut(text: string): Promise<void> | void {
  if (process.stdout.write(text)) return;
  return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}
