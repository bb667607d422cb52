/**
 * What both stream appliers (stream-applier.ts into one server, cluster/slot-applier.ts into a
 * cluster) do with a replicated command before placing it in a transaction:
 *
 * - `controlWord`: SELECT (switches the source db), PING and REPLCONF (count in offsets, not
 *   forwarded), MULTI and EXEC (the source's transaction bounds) are the applier's own business;
 * - `StreamCommands.prepare`, for every other command, in this order: the target's refusal
 *   (`refuse`, e.g. a command a shard link must not apply), verbatim script replication
 *   (script-cache.ts: EVAL and SCRIPT LOAD bodies recorded, SCRIPT FLUSH forgets them, an EVALSHA
 *   of a known script sent as EVAL), the key filter (filter.ts: dropped or rewritten to the keys
 *   that pass), then the target's dialect (dialect.ts: rewritten, dropped and counted, or refused
 *   with a message naming the fix).
 */
import { isWord } from '../replication/source-link.js';
import { knowsEverything, translateCommand, type Dialect } from './dialect.js';
import { ScriptCache } from './script-cache.js';
import type { ApplierOptions } from './target.js';

/** A command the applier handles itself (see the file comment), or null for a data command. */
export function controlWord(name: Buffer): 'select' | 'skip' | 'multi' | 'exec' | null {
  if (isWord(name, 'SELECT')) return 'select';
  if (isWord(name, 'PING') || isWord(name, 'REPLCONF')) return 'skip';
  if (isWord(name, 'MULTI')) return 'multi';
  if (isWord(name, 'EXEC')) return 'exec';
  return null;
}

/** The sync must stop before this command (`message` names why and the fix). */
export interface StreamRefusal {
  refuse: string;
}

/** See the file comment. */
export class StreamCommands {
  /** Scripts the source assumes this replica knows (script-cache.ts). */
  readonly scripts = new ScriptCache();
  /** EVALSHA sent as EVAL (the body was known). */
  evalshaRewritten = 0;
  /** Commands not applied because the target cannot hold what they set (see translateCommand). */
  readonly dropped = { fieldTtl: 0, consumer: 0 };
  /** The target's dialect when it lacks something, else null (nothing to translate). */
  private readonly dialect: Dialect | null;

  constructor(private readonly opts: Pick<ApplierOptions, 'filter' | 'dialect' | 'dropFieldTtl' | 'refuse'>) {
    this.dialect = opts.dialect && !knowsEverything(opts.dialect) ? opts.dialect : null;
  }

  /** The arguments to apply for a data command, null when it is dropped, or a refusal. */
  prepare(argv: Buffer[]): Buffer[] | null | StreamRefusal {
    const refusal = this.opts.refuse?.(argv);
    if (refusal) return { refuse: refusal };
    let args = this.scriptCommand(argv) ?? argv;
    const d = this.opts.filter.filterCommand(args);
    if (d.action === 'drop') return null;
    if (d.action === 'rewrite') args = d.argv;
    // NOTE: skipped for a target that knows every form (the common case): one string per command.
    if (!this.dialect) return args;
    const t = translateCommand(args, this.dialect, { dropFieldTtl: this.opts.dropFieldTtl });
    if (t.action === 'drop') {
      if (t.lost === 'field-ttl') this.dropped.fieldTtl++;
      else if (t.lost === 'consumer') this.dropped.consumer++;
      return null;
    }
    if (t.action === 'refuse') return { refuse: t.message };
    return t.action === 'rewrite' ? t.argv : args;
  }

  /** See the file comment; returns an EVALSHA of a known script as `EVAL body …`, else null. */
  private scriptCommand(argv: Buffer[]): Buffer[] | null {
    const n = argv[0];
    if (isWord(n, 'EVAL') && argv[1]) this.scripts.add(argv[1]);
    else if (isWord(n, 'EVALSHA') && argv[1]) {
      const body = this.scripts.get(argv[1]);
      if (body) {
        this.evalshaRewritten++;
        return [Buffer.from('EVAL'), body, ...argv.slice(2)];
      }
    } else if (isWord(n, 'SCRIPT')) {
      if (argv[1] && isWord(argv[1], 'LOAD') && argv[2]) this.scripts.add(argv[2]);
      else if (argv[1] && isWord(argv[1], 'FLUSH')) this.scripts.clear();
    }
    return null;
  }
}
