/** The backlog sizing rule, the flag, the plan and the partial-resync advice: pure parts. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backlogCap, decideBacklog, parseBacklogPolicy, partialResyncAdvice } from '../src/core/backlog.js';
import type { Facts, ServerFacts } from '../src/core/facts.js';
import { buildPlan } from '../src/core/plan.js';
import { assess } from '../src/core/safety.js';
import { parseSize } from '../src/core/size.js';
import { specFromFlags } from '../src/core/spec-from-flags.js';
import { loadState, specFromState, newState } from '../src/core/state.js';
import { EngineDriver } from '../src/drivers/engine.js';
import { parsePlaybook } from '../src/playbook/load.js';

const MB = 1024 * 1024;
const GB = 1024 * MB;

function source(over: Partial<ServerFacts> = {}): ServerFacts {
  return {
    url: 'redis://127.0.0.1:7001', version: '7.0.15', runId: 'a'.repeat(40), role: 'master', keys: 10, keysByDb: { 0: 10 },
    usedMemory: 100 * MB, totalSystemMemory: 8 * GB, maxmemory: 0, masterReplOffset: 0, replicas: [],
    config: { 'repl-backlog-size': String(MB), 'replica-read-only': 'yes', save: '3600 1', appendonly: 'no' },
    aofEnabled: false, rdbSaveRules: '3600 1', bgsaveInProgress: false, ...over,
  };
}
const facts = (rate: number, over: Partial<ServerFacts> = {}): Facts => ({
  source: source(over),
  target: { ...source(), url: 'redis://127.0.0.1:7002', runId: 'b'.repeat(40), keys: 0, keysByDb: {} },
  writeRateBytesPerSec: rate,
  sampleMs: 1000,
});
const spec = (extra: Record<string, unknown> = {}) => specFromFlags({ from: 'redis://127.0.0.1:7001', to: 'redis://127.0.0.1:7002', repoint: 'none', ...extra }, {});
const inputs = (rate: number, current: number | null = MB, over: Partial<{ usedMemory: number; maxmemory: number; totalSystemMemory: number }> = {}) => ({
  current, writeRate: rate, usedMemory: 100 * MB, maxmemory: 0, totalSystemMemory: 8 * GB, ...over,
});

describe('--backlog', () => {
  it('parses auto, keep and sizes as Redis does (k = 1000, kb = 1024)', () => {
    expect(parseBacklogPolicy('auto')).toEqual({ kind: 'auto' });
    expect(parseBacklogPolicy('KEEP')).toEqual({ kind: 'keep' });
    expect(parseBacklogPolicy('64mb')).toEqual({ kind: 'size', bytes: 64 * MB });
    expect(parseBacklogPolicy('1gb')).toEqual({ kind: 'size', bytes: GB });
    expect(parseBacklogPolicy('67108864')).toEqual({ kind: 'size', bytes: 64 * MB });
    expect(parseSize('5m')).toBe(5_000_000);
    expect(parseSize('2k')).toBe(2000);
    expect(parseBacklogPolicy('1.5gb')).toBeNull();
    expect(parseBacklogPolicy('lots')).toBeNull();
  });

  it('is auto by default; bad values and sizes under 16kb are usage errors naming the flag', () => {
    expect(spec().backlog).toEqual({ kind: 'auto' });
    expect(spec({ backlog: '128mb' }).backlog).toEqual({ kind: 'size', bytes: 128 * MB });
    expect(() => spec({ backlog: 'big' })).toThrow(/--backlog: "big" is not auto, keep or a size such as 64mb/);
    expect(() => spec({ backlog: '1kb' })).toThrow(/--backlog: 1kb is below Redis' minimum repl-backlog-size of 16kb/);
  });

  it('maps 1:1 from a playbook, and a run stored before the flag existed resumes with keep', () => {
    const book = parsePlaybook('version: 1\nfrom: redis://127.0.0.1:1\nto: start\nbacklog: 256mb\n', '/tmp/p.yaml', {});
    expect(book.flags.backlog).toBe('256mb');
    expect(() => parsePlaybook('version: 1\nfrom: redis://127.0.0.1:1\nto: start\nbacklog: huge\n', '/tmp/p.yaml', {})).toThrow(/line 4: "backlog" must be auto, keep or a size/);
    const state = newState(spec({ backlog: '64mb' }));
    expect(specFromState(state).backlog).toEqual({ kind: 'size', bytes: 64 * MB });
    // A state file written before the backlog step existed: no step record, no spec field.
    delete (state.spec as Record<string, unknown>).backlog;
    delete (state.steps as Record<string, unknown>).backlog;
    const dir = mkdtempSync(join(tmpdir(), 'ferry-old-state-'));
    try {
      writeFileSync(join(dir, 's.json'), JSON.stringify(state));
      const loaded = loadState(join(dir, 's.json'));
      expect(loaded.steps.backlog).toEqual({ status: 'pending' });
      expect(specFromState(loaded).backlog).toEqual({ kind: 'keep' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the sizing rule', () => {
  it('auto: 60 s of the measured rate, whole MB, only upwards', () => {
    const d = decideBacklog({ kind: 'auto' }, inputs(5.8 * MB));
    expect(d.wanted).toBe(348 * MB);
    expect(d.set).toBe(348 * MB);
    expect(d.why).toMatch(/^auto: 5\.8mb\/s of writes x 60 s = 348\.0mb \(cap 3\.9gb\); was 1\.0mb$/);
    expect(decideBacklog({ kind: 'auto' }, inputs(5.8 * MB, 512 * MB)).set).toBeNull();
    expect(decideBacklog({ kind: 'auto' }, inputs(0)).set).toBeNull();
  });

  it('caps at half the smallest headroom: maxmemory, then RAM minus the data and a fork copy', () => {
    expect(backlogCap({ usedMemory: 100 * MB, maxmemory: 0, totalSystemMemory: 8 * GB }).bytes).toBe(Math.floor((8 * GB - 200 * MB) / 2 / MB) * MB);
    const mm = backlogCap({ usedMemory: 100 * MB, maxmemory: 300 * MB, totalSystemMemory: 8 * GB });
    expect(mm.bytes).toBe(100 * MB);
    expect(mm.rule).toMatch(/maxmemory/);
    expect(backlogCap({ usedMemory: 5 * GB, maxmemory: 0, totalSystemMemory: 8 * GB }).bytes).toBe(0);
    expect(backlogCap({ usedMemory: 1, maxmemory: 0, totalSystemMemory: 0 }).bytes).toBe(512 * MB);
    const capped = decideBacklog({ kind: 'auto' }, inputs(10 * MB, MB, { maxmemory: 300 * MB }));
    expect(capped.set).toBe(100 * MB);
    expect(capped.why).toMatch(/capped at 100\.0mb \(half the room under maxmemory.*holds 10 s of writes/);
    expect(decideBacklog({ kind: 'auto' }, inputs(10 * MB, 200 * MB, { maxmemory: 300 * MB })).set).toBeNull();
  });

  it('SIZE raises to SIZE and never lowers; keep and a source without CONFIG change nothing', () => {
    expect(decideBacklog({ kind: 'size', bytes: 64 * MB }, inputs(MB)).set).toBe(64 * MB);
    expect(decideBacklog({ kind: 'size', bytes: 64 * MB }, inputs(MB, 128 * MB)).set).toBeNull();
    expect(decideBacklog({ kind: 'keep' }, inputs(100 * MB)).set).toBeNull();
    expect(decideBacklog({ kind: 'auto' }, inputs(100 * MB, null)).set).toBeNull();
  });

  it('refuses a SIZE that does not fit under maxmemory or without CONFIG, and warns when auto is capped', () => {
    expect(assess(spec({ backlog: '1gb' }), facts(MB, { maxmemory: 500 * MB })).refusals[0]).toMatch(/--backlog 1\.0gb does not fit in the 400\.0mb left under the source's maxmemory/);
    expect(assess(spec({ backlog: '1gb' }), facts(MB, { config: null })).refusals[0]).toMatch(/needs CONFIG SET on the source/);
    expect(assess(spec(), facts(10 * MB, { maxmemory: 300 * MB })).warnings.join('\n')).toMatch(/--backlog auto: 60 s of writes at 10\.0mb\/s need 600\.0mb, but the memory cap is 100\.0mb.*hold 10\.0 s/);
    expect(assess(spec({ backlog: 'keep' }), facts(2 * MB)).warnings.join('\n')).toMatch(/--backlog keep: repl-backlog-size 1\.0mb holds 0\.50 s of writes at 2\.0mb\/s/);
    expect(assess(spec(), facts(2 * MB)).warnings.join('\n')).not.toMatch(/repl-backlog-size/);
  });
});

describe('the plan', () => {
  it('shows the CONFIG SET with rate, window, result and cap, and the restore', () => {
    const plan = buildPlan(spec(), facts(5.8 * MB), new EngineDriver());
    const ids = plan.steps.map((s) => s.id);
    expect(ids.indexOf('backlog')).toBe(ids.indexOf('replicate') - 1);
    const cmds = plan.steps.find((s) => s.id === 'backlog')!.commands;
    expect(cmds[0]).toMatchObject({ on: 'source', command: `CONFIG SET repl-backlog-size ${348 * MB}` });
    expect(cmds[0].note).toMatch(/5\.8mb\/s of writes x 60 s = 348\.0mb \(cap .*gb\); was 1\.0mb/);
    expect(cmds[1]).toMatchObject({ on: 'source', command: `CONFIG SET repl-backlog-size ${MB}` });
    expect(cmds[1].note).toMatch(/when the migration ends .* on rollback, and when the run fails or is interrupted/);
    expect(plan.backlog).toMatchObject({ policy: 'auto', current: MB, set: 348 * MB, windowSec: 60, wanted: 348 * MB });
  });

  it('keep sends nothing; a backlog already big enough is only read', () => {
    expect(buildPlan(spec({ backlog: 'keep' }), facts(5.8 * MB), new EngineDriver()).steps.find((s) => s.id === 'backlog')!.commands).toEqual([]);
    const big = buildPlan(spec(), facts(MB, { config: { 'repl-backlog-size': String(GB) } }), new EngineDriver());
    expect(big.steps.find((s) => s.id === 'backlog')!.commands).toEqual([
      expect.objectContaining({ on: 'source', command: 'CONFIG GET repl-backlog-size', note: expect.stringMatching(/covers it already: not changed/) }),
    ]);
  });
});

describe('the partial-resync advice', () => {
  it('names the cause and the fix with numbers', () => {
    const m = partialResyncAdvice({ backlogBytes: MB, rate: 5.8 * MB, downMs: 400, behindBytes: 2.3 * MB, replidChanged: false });
    expect(m).toBe('the source refused a partial resync (+FULLRESYNC): its backlog 1.0mb = 0.17 s of writes at 5.8mb/s; the link was down 0.40 s and 2.3mb of writes were missing; raise it with --backlog 348mb (or CONFIG SET repl-backlog-size 348mb on the source)');
    expect(partialResyncAdvice({ backlogBytes: MB, rate: 0, downMs: 400, behindBytes: 0, replidChanged: true })).toMatch(/replication id changed/);
    expect(partialResyncAdvice({ backlogBytes: 64 * MB, rate: MB, downMs: 100, behindBytes: MB, replidChanged: false })).toMatch(/history was shorter than its size/);
  });
});
