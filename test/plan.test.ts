/** buildPlan and the safety checks are pure: facts in, plan out. */
import { describe, expect, it } from 'vitest';
import type { Facts, ServerFacts } from '../src/core/facts.js';
import { buildPlan } from '../src/core/plan.js';
import { assess, parseReplicaBufferLimit } from '../src/core/safety.js';
import { specFromFlags } from '../src/core/spec-from-flags.js';
import { NativeDriver } from '../src/drivers/native.js';

function server(over: Partial<ServerFacts> = {}): ServerFacts {
  return {
    url: 'redis://127.0.0.1:7001', version: '7.0.15', runId: 'a'.repeat(40), role: 'master', keys: 10, keysByDb: { 0: 10 },
    usedMemory: 1e6, totalSystemMemory: 8e9, maxmemory: 0, masterReplOffset: 0, replicas: [],
    config: { 'repl-backlog-size': String(1 << 20), 'client-output-buffer-limit': 'normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60', 'replica-read-only': 'yes', save: '3600 1', appendonly: 'no' },
    aofEnabled: false, rdbSaveRules: '3600 1', bgsaveInProgress: false, ...over,
  };
}
const facts = (src: Partial<ServerFacts> = {}, tgt: Partial<ServerFacts> | null = {}): Facts => ({
  source: server(src),
  target: tgt === null ? null : server({ url: 'redis://127.0.0.1:7002', runId: 'b'.repeat(40), keys: 0, keysByDb: {}, ...tgt }),
  writeRateBytesPerSec: 1000,
  sampleMs: 1000,
});
const spec = (extra: Record<string, unknown> = {}) => specFromFlags({ from: 'redis://:pw@127.0.0.1:7001', to: 'redis://127.0.0.1:7002', repoint: 'exec:./hook.sh', ...extra }, {});

describe('buildPlan', () => {
  it('lists every step with the commands for each server, passwords redacted', () => {
    const plan = buildPlan(spec(), facts(), new NativeDriver());
    expect(plan.version).toBe(1);
    expect(plan.steps.map((s) => s.id)).toEqual(['preflight', 'provision', 'backlog', 'replicate', 'converge', 'verify', 'open-writes', 'repoint', 'fence', 'promote', 'final-check', 'reparent', 'retire']);
    const replicate = plan.steps.find((s) => s.id === 'replicate')!;
    expect(replicate.commands).toEqual([
      expect.objectContaining({ on: 'target', command: 'CONFIG SET masterauth <redacted>' }),
      expect.objectContaining({ on: 'target', command: 'REPLICAOF 127.0.0.1 7001' }),
    ]);
    expect(plan.steps.find((s) => s.id === 'fence')!.commands).toContainEqual(expect.objectContaining({ on: 'source', command: 'CLIENT PAUSE 10000 WRITE' }));
    expect(JSON.stringify(plan)).not.toMatch(/:pw@|\bpw\b/);
    expect(plan.findings.refusals).toEqual([]);
  });

  it('with --flush-target, FLUSHALL on the target is part of the plan', () => {
    const plan = buildPlan(spec({ flushTarget: true }), facts({}, { keys: 5 }), new NativeDriver());
    expect(plan.steps.find((s) => s.id === 'replicate')!.commands[0]).toMatchObject({ on: 'target', command: 'FLUSHALL' });
    expect(plan.findings.refusals).toEqual([]);
  });

  it('reparents the other replicas of the source, not the target', () => {
    const f = facts({ replicas: [{ host: '127.0.0.1', port: 7002, state: 'online' }, { host: '127.0.0.1', port: 7003, state: 'online' }] });
    const cmds = buildPlan(spec(), f, new NativeDriver()).steps.find((s) => s.id === 'reparent')!.commands;
    expect(cmds).toEqual([expect.objectContaining({ on: 'replica 127.0.0.1:7003', command: 'REPLICAOF 127.0.0.1 7002' })]);
  });
});

describe('safety checks', () => {
  it.each([
    ['target holds keys', facts({}, { keys: 3 }), /holds 3 keys.*--flush-target/],
    ['same server', facts({}, { runId: 'a'.repeat(40), keys: 10 }), /same server/],
    ['source is a replica', facts({ role: 'replica', masterOf: '10.0.0.1:6379' }), /is a replica of 10\.0\.0\.1:6379; point --from at the master/],
    ['source empty, target not', facts({ keys: 0 }, { keys: 4 }), /source is empty.*swapped/],
  ])('%s is refused', (_name, f, message) => {
    const { refusals } = assess(spec(), f);
    expect(refusals[0]).toMatch(message);
  });

  it('advises on a small backlog, a tight replica buffer, fork headroom and persistence', () => {
    const f = facts({ usedMemory: 5e9, totalSystemMemory: 8e9 }, { aofEnabled: false, rdbSaveRules: '' });
    f.writeRateBytesPerSec = 2 * 1024 * 1024;
    const { warnings } = assess(spec({ backlog: 'keep' }), f);
    expect(warnings.join('\n')).toMatch(/--backlog keep: repl-backlog-size 1\.0mb holds 0\.50 s of writes at 2\.0mb\/s.*CONFIG SET repl-backlog-size 120mb/);
    expect(warnings.join('\n')).toMatch(/client-output-buffer-limit replica/);
    expect(warnings.join('\n')).toMatch(/fork/);
    expect(warnings.join('\n')).toMatch(/no persistence/);
  });

  it('advises on the diskless sync delay only when the source has one', () => {
    const delayed = (diskless: string, delay: string) => {
      const f = facts({ config: { ...server().config!, 'repl-diskless-sync': diskless, 'repl-diskless-sync-delay': delay } });
      return assess(spec(), f).warnings.filter((w) => w.includes('repl-diskless-sync-delay'));
    };
    expect(delayed('yes', '5')).toEqual(['the source waits repl-diskless-sync-delay 5 s before a diskless full sync starts; CONFIG SET repl-diskless-sync-delay 0 on the source starts it at once']);
    expect(delayed('yes', '0')).toEqual([]);
    expect(delayed('no', '5')).toEqual([]);
  });

  it('parses the replica class of client-output-buffer-limit', () => {
    expect(parseReplicaBufferLimit('normal 0 0 0 slave 268435456 67108864 60 pubsub 1 2 3')).toEqual({ hard: 268435456, soft: 67108864, softSeconds: 60 });
  });
});
