/**
 * Loads a playbook: YAML → `${ENV}` interpolation → schema check → flag values.
 * Every error names the file, the line and the field, in one sentence with the fix.
 * The result is keyed like commander's parsed options, so playbook and flags share one spec builder.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { z } from 'zod';
import { UsageError } from '../core/errors.js';
import type { MigrationFlags } from '../core/spec-from-flags.js';
import { BadPlaceholderError, interpolate, MissingEnvError } from './interpolate.js';
import { PLAYBOOK_KEYS, playbookSchema, type PlaybookDocument } from './schema.js';

/** Flag values as commander would parse them from the command line (camelCase, strings). */
export type PlaybookFlags = MigrationFlags & { from: string; to: string; state?: string };

export interface LoadedPlaybook {
  path: string;
  description?: string;
  flags: PlaybookFlags;
  /** Advice, e.g. a password written in the file instead of taken from the environment. */
  warnings: string[];
}

/** Reads and validates a playbook file. Throws UsageError (exit 2) naming file, line and field. */
export function loadPlaybook(file: string, env: NodeJS.ProcessEnv = process.env): LoadedPlaybook {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--playbook: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the path`);
  }
  return parsePlaybook(source, file, env);
}

/** Validates playbook text; `file` is used in messages and to resolve relative paths. */
export function parsePlaybook(source: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedPlaybook {
  const lc = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lc, prettyErrors: false });
  const at = (offset: number | undefined) => (offset === undefined ? '' : ` line ${lc.linePos(offset).line}`);
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new UsageError(`playbook ${file}${at(e.pos[0])}: invalid YAML (${e.message.split('\n')[0]})`);
  }
  if (!isMap(doc.contents)) {
    throw new UsageError(`playbook ${file}: expected a mapping of settings such as "from:" and "to:" (see playbooks/ci-smoke.yaml)`);
  }
  const literalSecrets = interpolateDocument(doc, file, env, at);
  const parsed = playbookSchema.safeParse(doc.toJS());
  if (!parsed.success) throw new UsageError(describeIssues(parsed.error.issues, doc, file, at));
  const warnings = literalSecrets.map(
    (key) => `playbook ${file}: "${key}" holds a password written in the file; use \${ENV} so secrets stay out of it`,
  );
  return { path: file, description: parsed.data.description, flags: toFlags(parsed.data, dirname(file)), warnings };
}

/** Replaces `${ENV}` in every scalar value; returns the keys whose URLs carry a literal password. */
function interpolateDocument(doc: Document, file: string, env: NodeJS.ProcessEnv, at: (o?: number) => string): string[] {
  const literalSecrets: string[] = [];
  visit(doc, {
    Scalar(key, node, path) {
      if (key === 'key' || typeof node.value !== 'string') return;
      const field = fieldName(path);
      try {
        const raw = node.value;
        const { value } = interpolate(raw, env);
        // NOTE: a password counts as "literal" when the text before interpolation already had one.
        if (/^(?:rediss?|sentinel):\/\/[^/@\s]*:[^@/\s$]+@/.test(raw)) literalSecrets.push(field);
        node.value = value;
      } catch (err) {
        const where = `playbook ${file}${at(node.range?.[0])}`;
        if (err instanceof MissingEnvError) {
          throw new UsageError(`${where}: "${field}" uses \${${err.variable}} but environment variable ${err.variable} is ${err.empty ? 'empty' : 'not set'}; export it or write \${${err.variable}:-default}`);
        }
        if (err instanceof BadPlaceholderError) throw new UsageError(`${where}: "${field}": ${err.message}`);
        throw err;
      }
    },
  });
  return literalSecrets;
}

/** The top-level key a visited node belongs to (the playbook is one flat mapping). */
function fieldName(path: readonly unknown[]): string {
  for (const p of path) {
    const k = (p as { key?: unknown }).key;
    if (isScalar(k)) return String(k.value);
  }
  return '?';
}

function describeIssues(issues: z.core.$ZodIssue[], doc: Document, file: string, at: (o?: number) => string): string {
  const lines = issues.map((issue) => {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys
        .map((k) => `playbook ${file}${at(keyOffset(doc, k))}: unknown field "${k}"${suggest(k)}`)
        .join('\n');
    }
    const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    const field = path.join('.') || '(document)';
    if (node === undefined) {
      return `playbook ${file}: required field "${field}" is missing; add e.g. ${example(field)}`;
    }
    const got = isScalar(node) ? ` (got ${JSON.stringify(node.value)})` : '';
    return `playbook ${file}${at(node.range?.[0])}: "${field}" ${issue.message}${got}`;
  });
  return lines.join('\n');
}

function keyOffset(doc: Document, key: string): number | undefined {
  if (!isMap(doc.contents)) return undefined;
  for (const pair of doc.contents.items) {
    if (isScalar(pair.key) && pair.key.value === key) return pair.key.range?.[0];
  }
  return undefined;
}

function suggest(key: string): string {
  const near = PLAYBOOK_KEYS.find((k) => editDistance(k, key) <= 2);
  return near ? `; did you mean "${near}"?` : `; known fields: ${PLAYBOOK_KEYS.join(', ')}`;
}

function example(field: string): string {
  if (field === 'version') return '"version: 1"';
  if (field === 'from') return '"from: redis://127.0.0.1:6379"';
  if (field === 'to') return '"to: start:6380" or "to: redis://host:port"';
  return `"${field}: ..."`;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

/** Maps the document to flag values; relative paths are taken from the playbook's directory. */
function toFlags(p: PlaybookDocument, baseDir: string): PlaybookFlags {
  const path = (v?: string) => (v === undefined ? undefined : isAbsolute(v) ? v : resolve(baseDir, v));
  const str = (v?: number) => (v === undefined ? undefined : String(v));
  const flags: PlaybookFlags = {
    from: p.from,
    to: p.to,
    sync: p.sync,
    repoint: p.repoint,
    hookTimeout: str(p['hook-timeout']),
    retire: p.retire,
    pauseTimeout: str(p['pause-timeout']),
    drainTimeout: str(p['drain-timeout']),
    dataDir: path(p['data-dir']),
    serverArg: p['server-arg'] === undefined ? undefined : ([] as string[]).concat(p['server-arg']),
    flushTarget: p['flush-target'],
    verify: p.verify,
    verifySample: str(p['verify-sample']),
    backlog: p.backlog === undefined ? undefined : String(p.backlog),
    tlsCa: path(p['tls-ca']),
    tlsCert: path(p['tls-cert']),
    tlsKey: path(p['tls-key']),
    tlsInsecure: p['tls-insecure'],
    state: path(p.state),
  };
  for (const k of Object.keys(flags) as Array<keyof PlaybookFlags>) if (flags[k] === undefined) delete flags[k];
  return flags;
}
