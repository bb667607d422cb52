/**
 * Where the keys of a command are, for routing by slot. The table comes from the target itself:
 * `COMMAND` lists every command with its first key, last key (negative: from the end) and step, and
 * a `movablekeys` flag when the positions depend on the arguments (redis src/commands.def /
 * `COMMAND` reply; on 7.0+ container commands such as XGROUP list their subcommands, e.g.
 * `xgroup|create` with the key at 2). Movable-key commands that can reach a replication stream
 * are parsed here (numkeys forms, SORT … STORE, GEORADIUS … STORE); any other one is refused with
 * its name, because ferry cannot tell where its keys are.
 */
import type { Arg } from '../resp/encoder.js';

/** Key positions: first, last (negative = from the end), step; movable: parse the arguments. */
interface Spec {
  first: number;
  last: number;
  step: number;
  movable: boolean;
  /** Container command (7.0+): the real spec is the subcommand's. */
  sub?: Map<string, Spec>;
}

/** What `keysOf` found. */
export type KeyPositions = number[] | { error: string };

const NONE: number[] = [];

/** The key-position table of one server (see the file comment). */
export class CommandKeys {
  private readonly specs = new Map<string, Spec>();

  /** Builds the table from a `COMMAND` reply. */
  static fromCommandReply(reply: unknown): CommandKeys {
    const t = new CommandKeys();
    for (const c of reply as unknown[][]) {
      const spec = specOf(c);
      t.specs.set(String(c[0]).toLowerCase(), spec);
    }
    return t;
  }

  /** Argument indexes of the keys of `argv` ([] for a keyless command). */
  keysOf(argv: readonly Arg[]): KeyPositions {
    const name = lower(argv[0]);
    let spec = this.specs.get(name);
    if (!spec) return { error: `the target does not know the command ${name.toUpperCase()}` };
    if (spec.sub) {
      const sub = argv.length > 1 ? spec.sub.get(`${name}|${lower(argv[1])}`) : undefined;
      if (!sub) return NONE;
      spec = sub;
    }
    if (spec.movable) return movableKeys(name, argv) ?? { error: `ferry cannot tell the keys of ${name.toUpperCase()} (movable keys) to route it by slot` };
    if (spec.first === 0) return NONE;
    const last = spec.last < 0 ? argv.length + spec.last : Math.min(spec.last, argv.length - 1);
    if (spec.first === last) return spec.first < argv.length ? [spec.first] : NONE;
    const out: number[] = [];
    for (let i = spec.first; i <= last; i += spec.step) out.push(i);
    return out;
  }
}

function specOf(c: unknown[]): Spec {
  const flags = (c[2] as unknown[]).map(String);
  const spec: Spec = { first: Number(c[3]), last: Number(c[4]), step: Number(c[5]) || 1, movable: flags.includes('movablekeys') };
  const subs = c[9] as unknown[][] | undefined;
  if (Array.isArray(subs) && subs.length > 0) {
    spec.sub = new Map(subs.map((s) => [String(s[0]).toLowerCase(), specOf(s)]));
  }
  return spec;
}

function lower(a: Arg | undefined): string {
  if (a === undefined) return '';
  return (typeof a === 'string' ? a : typeof a === 'number' ? String(a) : a.toString('latin1')).toLowerCase();
}

function num(a: Arg | undefined): number {
  return a === undefined ? NaN : Number(typeof a === 'string' || typeof a === 'number' ? a : a.toString('latin1'));
}

/** `count` keys from index `from` (numkeys forms); null when numkeys is malformed. */
function range(from: number, count: number, argc: number, extra: number[] = []): number[] | null {
  if (!Number.isInteger(count) || count < 0 || from + count > argc) return null;
  const out = [...extra];
  for (let i = 0; i < count; i++) out.push(from + i);
  return out;
}

function movableKeys(name: string, argv: readonly Arg[]): number[] | null {
  switch (name) {
    case 'zunionstore':
    case 'zinterstore':
    case 'zdiffstore':
      return range(3, num(argv[2]), argv.length, [1]);
    case 'eval':
    case 'evalsha':
    case 'eval_ro':
    case 'evalsha_ro':
    case 'fcall':
    case 'fcall_ro':
      return range(3, num(argv[2]), argv.length);
    case 'lmpop':
    case 'zmpop':
      return range(2, num(argv[1]), argv.length);
    case 'blmpop':
    case 'bzmpop':
      return range(3, num(argv[2]), argv.length);
    case 'sort':
    case 'sort_ro':
    case 'georadius':
    case 'georadiusbymember': {
      const out = [1];
      for (let i = 2; i + 1 < argv.length; i++) {
        const w = lower(argv[i]);
        if (w === 'store' || w === 'storedist') out.push(++i);
      }
      return out;
    }
    default:
      return null;
  }
}
