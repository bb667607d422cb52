import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ferry, jsonEvents, spawnFerry } from './helpers/cli.js';

/** redis-server processes whose command line mentions `dir` (the demo starts them with --dir inside it). */
function serversUnder(dir: string): string[] {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-af', 'redis-server'], { encoding: 'utf8' });
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
  return out.split('\n').filter((l) => l.includes(dir));
}

describe('ferry demo', () => {
  let tmp: string;
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it.each(['engine', 'native'])('--sync %s: migrates under load, reports 0 writes lost, exits 0 and leaves nothing behind', async (sync) => {
    tmp = mkdtempSync(join(tmpdir(), 'ferry-demo-test-'));
    const r = await ferry(['demo', '--keys', '3000', '--lanes', '4', '--sync', sync], { env: { TMPDIR: tmp }, timeoutMs: 90_000 });
    expect(r.stderr).toContain(`(sync ${sync}, repoint hook rewrites the writer's master file)`);
    expect(r.stderr).toMatch(/Loaded 3,00\d sample keys \(hash \d+, list \d+, set [\d,]+, zset \d+, string [\d,]+, stream 1\)/);
    expect(r.stdout).toMatch(/writes acknowledged\s+[\d,]+ \(/);
    expect(r.stdout).toMatch(/writes lost\s+0 \(every acknowledged key read back from the new master\)/);
    expect(r.stdout).toMatch(/longest write stall\s+[\d.]+ m?s during the migration \(baseline: [\d.]+ m?s in the second before it\)/);
    expect(r.stdout).toMatch(/write pause \(fence\)\s+[\d.]+ m?s/);
    expect(r.stdout).toMatch(/time per step\s+preflight .* retire /);
    expect(r.stdout).toMatch(/left behind\s+nothing: both servers stopped, their data dirs and the state file removed/);
    expect(r.stdout).toContain('Zero acknowledged writes lost.');
    const acked = Number(/writes acknowledged\s+([\d,]+)/.exec(r.stdout)?.[1].replace(/,/g, ''));
    expect(acked).toBeGreaterThan(100);
    console.log(`ferry demo --sync ${sync}: ${acked} writes acknowledged, 0 lost; longest stall ${/longest write stall\s+(.*)/.exec(r.stdout)?.[1]}; pause ${/write pause \(fence\)\s+(.*)/.exec(r.stdout)?.[1]}`);
    expect(r.code).toBe(0);
    expect(readdirSync(tmp)).toEqual([]);
    expect(serversUnder(tmp)).toEqual([]);
  });

  it('--json: only JSON events on stdout, like run --json, ending with the cutover report as data', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ferry-demo-test-'));
    const r = await ferry(['demo', '--keys', '2000', '--json'], { env: { TMPDIR: tmp }, timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // human output suppressed
    const lines = r.stdout.trimEnd().split('\n');
    const events = jsonEvents(r.stdout);
    expect(events).toHaveLength(lines.length); // every line is one JSON event
    for (const e of events) {
      expect(['step.start', 'step.done', 'progress', 'warning', 'info', 'done']).toContain(e.event);
      expect(Date.parse(e.ts)).not.toBeNaN();
    }
    expect(events.find((e) => e.event === 'info' && e.step === 'demo')?.message).toBe('Starting two throwaway redis-servers on free loopback ports…');
    expect(events.some((e) => e.event === 'progress')).toBe(true);
    for (const step of ['preflight', 'provision', 'backlog', 'replicate', 'converge', 'verify', 'open-writes', 'repoint', 'fence', 'promote', 'final-check', 'reparent', 'retire']) {
      expect(events.filter((e) => e.event === 'step.start' && e.step === step)).toHaveLength(1);
      expect(events.filter((e) => e.event === 'step.done' && e.step === step)).toHaveLength(1);
    }
    // One final event: the demo's, not the inner run's.
    expect(events.filter((e) => e.event === 'done' || e.event === 'failed')).toHaveLength(1);
    const done = events[events.length - 1];
    expect(done).toMatchObject({ event: 'done', exitCode: 0, report: { sync: 'engine', writesLost: 0, lostExamples: [], masterSwitches: 1, leftBehind: 'nothing' } });
    expect(done.report.writesAcknowledged).toBeGreaterThan(100);
    expect(done.report.keysOnTarget).toBeGreaterThanOrEqual(done.report.sampleKeys + done.report.writesAcknowledged);
    expect(done.report.pauseMs).toBeGreaterThanOrEqual(0);
    expect(done.report.steps.map((s: { id: string }) => s.id)).toEqual(['preflight', 'provision', 'backlog', 'replicate', 'converge', 'verify', 'open-writes', 'repoint', 'fence', 'promote', 'final-check', 'reparent', 'retire']);
    expect(readdirSync(tmp)).toEqual([]);
    expect(serversUnder(tmp)).toEqual([]);
  });

  it.each([false, true])('Ctrl-C (SIGINT) mid-run exits 130 and still removes its servers and temp dirs (--json: %s)', async (json) => {
    tmp = mkdtempSync(join(tmpdir(), 'ferry-demo-test-'));
    const child = spawnFerry(['demo', '--keys', '2000', ...(json ? ['--json'] : [])], { env: { TMPDIR: tmp } });
    let seen = '';
    let sent = false;
    (json ? child.stdout : child.stderr)?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (!sent && /A writer is writing/.test(seen)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const r = await child;
    expect(sent).toBe(true);
    expect(r.exitCode).toBe(130);
    expect(String(r.stderr)).toMatch(/^ferry: interrupted; the demo stopped its servers and removed everything it created$/m);
    if (json) {
      const events = jsonEvents(String(r.stdout));
      expect(events[events.length - 1]).toMatchObject({ event: 'failed', exitCode: 130, error: 'interrupted; the demo stopped its servers and removed everything it created' });
      expect(events.filter((e) => e.event === 'failed' || e.event === 'done')).toHaveLength(1);
    }
    expect(readdirSync(tmp)).toEqual([]);
    expect(serversUnder(tmp)).toEqual([]);
  });

  it('without redis-server on PATH: exit 2, one line naming the fix, nothing left behind', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ferry-demo-test-'));
    const bin = join(tmp, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node')); // node, and nothing else, on PATH
    const work = join(tmp, 'work');
    mkdirSync(work);
    const r = await ferry(['demo', '--keys', '10'], { env: { TMPDIR: work, PATH: bin }, timeoutMs: 20_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ferry: redis-server is not on PATH; install it \(apt-get install redis-server, or bash scripts\/demo\.sh does it\)$/m);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(readdirSync(work)).toEqual([]);
  });
});
