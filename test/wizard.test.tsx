import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { ExitCode, StepError } from '../src/core/errors.js';
import type { MigrationSpec } from '../src/core/spec.js';
import { LEAVE_GRACE_MS, Wizard } from '../src/ui/wizard/Wizard.js';
import type { WizardDeps } from '../src/ui/wizard/types.js';

// UI behaviour only: the runner here is a script of events. The real runner and real servers are
// exercised end to end by test/wizard-tty.test.ts.
function fakeDeps(over: Partial<WizardDeps> = {}): WizardDeps & { specs: MigrationSpec[]; flags: unknown[] } {
  const specs: MigrationSpec[] = [];
  const flags: unknown[] = [];
  return {
    specs,
    flags,
    probe: async () => ({ version: '7.0.15', role: 'master', keys: 1234, usedMemory: 2 * 1024 * 1024, connectedClients: 3 }),
    buildSpec: (f) => {
      flags.push(f);
      return { marker: 'spec', ...f } as unknown as MigrationSpec;
    },
    plan: async () => ({ text: 'PLAN: 1. preflight  2. provision' }),
    run: async (spec, { bus, confirm }) => {
      specs.push(spec);
      bus.emit({ event: 'step.start', step: 'preflight', title: 'Preflight checks' });
      bus.emit({ event: 'step.done', step: 'preflight', ms: 12 });
      bus.emit({ event: 'step.start', step: 'repoint', title: 'Repoint clients' });
      bus.emit({ event: 'progress', step: 'repoint', phase: 'drain', done: 1, total: 3, unit: 'clients', detail: { clients: [{ addr: '127.0.0.1:5555', name: 'app' }] } });
      if (!(await confirm('Have you repointed your clients?'))) throw new StepError('repoint', 'operator declined');
      bus.emit({ event: 'step.done', step: 'repoint', ms: 1500 });
      bus.emit({ event: 'done', exitCode: 0, report: { pauseMs: 42, finalOffset: 12345, statePath: '.ferry/x.json' } });
    },
    freePort: async () => 7777,
    ...over,
  };
}

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

function lastNonEmpty(frames: string[]): string {
  return [...frames].reverse().find((f) => f.trim() !== '') ?? '';
}

async function until(frames: string[], re: RegExp, ms = 5000): Promise<string> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const last = [...frames].reverse().find((f) => f.trim() !== '') ?? '';
    if (re.test(last)) return last;
    await tick(20);
  }
  throw new Error(`timed out waiting for ${re}; last frame:\n${[...frames].reverse().find((f) => f.trim() !== '')}`);
}

function start(deps: WizardDeps) {
  let code: number | undefined;
  const r = render(<Wizard deps={deps} onExit={(c) => (code = c)} />);
  return { ...r, code: () => code };
}

/** From the target question: attach to a URL, take the default of every other question, up to the confirmation. */
async function attachWithDefaults(w: ReturnType<typeof start>) {
  w.stdin.write('\u001b[B');
  await tick();
  w.stdin.write('\r');
  await until(w.frames, /Target URL/);
  await type(w.stdin, 'redis://127.0.0.1:6380');
  for (let i = 0; i < 3; i++) {
    await until(w.frames, /replicated|applications move|old master should/);
    w.stdin.write('\r');
    await tick();
  }
  await until(w.frames, /Run this migration now\?/);
}

/** Waits until the wizard called onExit (bounded). */
async function exited(w: { code(): number | undefined }, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (w.code() === undefined) {
    if (Date.now() > deadline) throw new Error(`the wizard did not exit within ${ms} ms`);
    await tick(20);
  }
}

async function type(stdin: { write(s: string): void }, text: string) {
  stdin.write(text);
  await tick();
  stdin.write('\r');
  await tick();
}

describe('wizard (ink components)', () => {
  it('asks every question, shows the plan, runs with a live step list and manual repoint', async () => {
    const deps = fakeDeps();
    const w = start(deps);
    await until(w.frames, /Source \(the old master\) URL/);
    await type(w.stdin, 'redis://127.0.0.1:6379');
    await until(w.frames, /Redis 7\.0\.15 · master · 1,234 keys · 2\.0 MiB used · 3 connected clients/);
    await until(w.frames, /Start a new local redis-server/);
    w.stdin.write('\r'); // start a new local instance
    await until(w.frames, /Port for the new server: 7777/);
    await type(w.stdin, '');
    await until(w.frames, /Data dir/);
    await type(w.stdin, '/tmp/data');
    await until(w.frames, /How should the data be replicated/);
    w.stdin.write('1'); // native, whatever the default is
    await until(w.frames, /❯ 1\. native/);
    w.stdin.write('\r');
    await until(w.frames, /How do your applications move/);
    w.stdin.write('\r'); // manual
    await until(w.frames, /the old master should/);
    w.stdin.write('\u001b[B'); // ↓ keep
    await tick();
    w.stdin.write('\r');
    await until(w.frames, /PLAN: 1\. preflight[\s\S]*Run this migration now\?/);
    w.stdin.write('y');
    const manual = await until(w.frames, /Clients still connected to the old master: 2/);
    expect(manual).toContain('127.0.0.1:5555 name=app');
    expect(manual).toMatch(/✔ preflight/);
    w.stdin.write('y');
    const end = await until(w.frames, /Migration complete\. writes paused 42 ms · final offset 12,345 · state in \.ferry\/x\.json/);
    expect(end).toMatch(/✔ repoint {6}1\.5 s/);
    await until(w.frames, /Migration complete/);
    for (let i = 0; i < 50 && w.code() === undefined; i++) await tick(20);
    expect(w.code()).toBe(0);
    expect(deps.flags).toEqual([{ from: 'redis://127.0.0.1:6379', to: 'start:7777', dataDir: '/tmp/data', sync: 'native', repoint: 'manual', retire: 'keep' }]);
    expect(deps.specs).toHaveLength(1);
  });

  it('Ctrl-C at the first prompt leaves at once: exit 130, one line, no question', async () => {
    const deps = fakeDeps();
    const w = start(deps);
    await until(w.frames, /Source \(the old master\) URL/);
    w.stdin.write('\u0003');
    const end = await until(w.frames, /Aborted: nothing was changed\./);
    expect(end).not.toMatch(/Abort\?|\(y\/N\)/);
    await exited(w);
    expect(w.code()).toBe(ExitCode.interrupted);
    expect(deps.specs).toHaveLength(0);
  });

  it('Ctrl-C at the confirmation leaves at once without running', async () => {
    const deps = fakeDeps();
    const w = start(deps);
    await until(w.frames, /Source/);
    await type(w.stdin, '');
    await until(w.frames, /Start a new local/);
    await attachWithDefaults(w);
    w.stdin.write('\u0003');
    const end = await until(w.frames, /Aborted: nothing was changed\./);
    expect(end).not.toMatch(/Abort the migration\?/);
    await exited(w);
    expect(w.code()).toBe(ExitCode.interrupted);
    expect(deps.specs).toHaveLength(0);
  });

  it('Ctrl-C during the read-only preflight stops the run without asking', async () => {
    let aborted = false;
    const deps = fakeDeps({
      run: async (_spec, { bus, signal }) => {
        bus.emit({ event: 'step.start', step: 'preflight', title: 'Check both servers' });
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        aborted = true;
        bus.emit({ event: 'failed', exitCode: 130, error: 'interrupted', resume: 'ferry resume --state .ferry/r.json' });
        throw signal.reason;
      },
    });
    const w = start(deps);
    await until(w.frames, /Source/);
    await type(w.stdin, '');
    await until(w.frames, /Start a new local/);
    await attachWithDefaults(w);
    w.stdin.write('y');
    await until(w.frames, /▶ Check both servers/);
    w.stdin.write('\u0003');
    await exited(w);
    expect(aborted).toBe(true);
    expect(w.code()).toBe(ExitCode.interrupted);
    const end = lastNonEmpty(w.frames); // NOTE: with CI set, ink's lastFrame() is '\n' after exit()
    expect(end).toContain('Aborted: nothing was changed.');
    expect(end).not.toMatch(/Abort the migration\?|To continue|✗/);
  });

  /** A run that changed something (replicate started) and then waits; `stops` says whether it honours the abort. */
  function changingRun(stops: boolean, seen: { aborted: boolean }): Partial<WizardDeps> {
    return {
      run: async (_spec, { bus, signal }) => {
        bus.emit({ event: 'info', message: 'state file: .ferry/r.json' });
        bus.emit({ event: 'step.start', step: 'preflight', title: 'Check both servers' });
        bus.emit({ event: 'step.done', step: 'preflight', ms: 5 });
        bus.emit({ event: 'step.start', step: 'replicate', title: 'Start replication' });
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        seen.aborted = true;
        if (!stops) await new Promise(() => {}); // never settles: the wizard must leave anyway
        bus.emit({ event: 'failed', exitCode: 130, error: 'interrupted: the old master is not paused', resume: 'ferry resume --state .ferry/r.json', report: { statePath: '.ferry/r.json' } });
        throw signal.reason;
      },
    };
  }

  async function toTheRun(deps: WizardDeps) {
    const w = start(deps);
    await until(w.frames, /Source/);
    await type(w.stdin, '');
    await until(w.frames, /Start a new local/);
    await attachWithDefaults(w);
    w.stdin.write('y');
    await until(w.frames, /▶ Start replication/);
    return w;
  }

  it('once something changed: Ctrl-C asks, a second Ctrl-C leaves after the run stopped, naming resume and rollback', async () => {
    const seen = { aborted: false };
    const w = await toTheRun(fakeDeps(changingRun(true, seen)));
    w.stdin.write('\u0003');
    await until(w.frames, /Abort the migration\? The source is unpaused and the state saved\. \(Ctrl-C again leaves\)/);
    expect(seen.aborted).toBe(false);
    w.stdin.write('\u0003');
    await exited(w);
    expect(seen.aborted).toBe(true);
    expect(w.code()).toBe(ExitCode.interrupted);
    const end = lastNonEmpty(w.frames); // NOTE: with CI set, ink's lastFrame() is '\n' after exit()
    expect(end).toContain('✗ interrupted: the old master is not paused');
    expect(end).toContain('To continue: ferry resume --state .ferry/r.json');
    expect(end).toContain('Where it stands: ferry status --state .ferry/r.json');
    expect(end).toContain('To undo: ferry rollback --state .ferry/r.json');
    expect(end).not.toContain('left before the run had stopped');
  });

  it('a second Ctrl-C leaves within the grace period even when the run does not stop; a third at once', async () => {
    for (const third of [false, true]) {
      const seen = { aborted: false };
      const w = await toTheRun(fakeDeps(changingRun(false, seen)));
      w.stdin.write('\u0003');
      await until(w.frames, /Abort the migration\?/);
      const t0 = Date.now();
      w.stdin.write('\u0003');
      await until(w.frames, /Leaving: ferry stops the run/);
      if (third) w.stdin.write('\u0003');
      await exited(w, LEAVE_GRACE_MS + 3000);
      const waited = Date.now() - t0;
      if (third) expect(waited).toBeLessThan(LEAVE_GRACE_MS);
      else expect(waited).toBeGreaterThanOrEqual(LEAVE_GRACE_MS - 50);
      expect(seen.aborted).toBe(true);
      expect(w.code()).toBe(ExitCode.interrupted);
      const end = lastNonEmpty(w.frames); // NOTE: with CI set, ink's lastFrame() is '\n' after exit()
      expect(end).toContain('✗ left before the run had stopped');
      expect(end).toContain('To continue: ferry resume --state .ferry/r.json');
      expect(end).toContain('To undo: ferry rollback --state .ferry/r.json');
      w.unmount();
    }
  });

  it('a failed probe shows the error and asks again; a failed run shows the resume command', async () => {
    let probes = 0;
    const deps = fakeDeps({
      probe: async () => {
        if (probes++ === 0) throw new Error('redis://127.0.0.1:1 is unreachable (ECONNREFUSED); check --from');
        return { version: '7.0.15', role: 'master', keys: 0, usedMemory: 0, connectedClients: 1 };
      },
      run: async (_spec, { bus }) => {
        bus.emit({ event: 'step.start', step: 'fence', title: 'Fence' });
        bus.emit({ event: 'step.failed', step: 'fence', error: 'offsets did not meet within 10 s' });
        bus.emit({ event: 'failed', exitCode: 4, step: 'fence', error: 'offsets did not meet within 10 s', resume: 'ferry resume --state /tmp/s.json' });
        throw new StepError('fence', 'offsets did not meet within 10 s');
      },
    });
    const w = start(deps);
    await until(w.frames, /Source/);
    await type(w.stdin, 'redis://127.0.0.1:1');
    await until(w.frames, /Source \(the old master\) URL: redis:\/\/127\.0\.0\.1:1[\s\S]*✗ redis:\/\/127\.0\.0\.1:1 is unreachable/);
    w.stdin.write('\u0015'); // Ctrl-U clears the field
    await type(w.stdin, 'redis://127.0.0.1:2');
    await until(w.frames, /Source {2}redis:\/\/127\.0\.0\.1:2\n/);
    await until(w.frames, /Start a new local/);
    for (let i = 0; i < 6; i++) {
      w.stdin.write('\r');
      await tick(60);
    }
    await until(w.frames, /Run this migration now\?/);
    w.stdin.write('y');
    const end = await until(w.frames, /To continue: ferry resume --state \/tmp\/s\.json/);
    expect(end).toContain('✗ fence');
    for (let i = 0; i < 50 && w.code() === undefined; i++) await tick(20);
    expect(w.code()).toBe(4);
  });

  it('Ctrl-C during the run asks, aborts the runner through its signal and shows how to resume', async () => {
    let aborted = false;
    const deps = fakeDeps({
      run: async (_spec, { bus, signal }) => {
        bus.emit({ event: 'step.start', step: 'converge', title: 'Wait until the new instance has caught up' });
        bus.emit({ event: 'progress', step: 'converge', phase: 'catch up', done: 10, total: 20, unit: 'offset', detail: { lagBytes: 2048 } });
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        aborted = true;
        bus.emit({ event: 'failed', exitCode: 130, error: 'interrupted: the old master is not paused', resume: 'ferry resume --state .ferry/r.json' });
        throw signal.reason;
      },
    });
    const w = start(deps);
    await until(w.frames, /Source/);
    await type(w.stdin, 'redis://:hunter2@127.0.0.1:6379');
    const answered = await until(w.frames, /Start a new local/);
    expect(answered).toContain('Source  redis://:***@127.0.0.1:6379');
    expect(answered).not.toContain('hunter2');
    await attachWithDefaults(w);
    w.stdin.write('y');
    await until(w.frames, /▶ Wait until the new instance has caught up[\s\S]*lag 2\.0 KiB behind/);
    w.stdin.write('\u0003');
    await until(w.frames, /Abort the migration\? The source is unpaused and the state saved\./);
    w.stdin.write('y');
    const end = await until(w.frames, /To continue: ferry resume --state \.ferry\/r\.json/);
    expect(end).toContain('✗ interrupted: the old master is not paused');
    for (let i = 0; i < 50 && w.code() === undefined; i++) await tick(20);
    expect(aborted).toBe(true);
    expect(w.code()).toBe(ExitCode.interrupted);
  });

  it('a sentinel:// source: shows how the master was found and offers repointing through Sentinel', async () => {
    const deps = fakeDeps({ probe: async () => ({ version: '7.0.15', role: 'master', keys: 5, usedMemory: 1024, connectedClients: 1, via: 'Sentinel mymaster (3 Sentinels) → 10.0.0.5:6379' }) });
    const w = start(deps);
    await until(w.frames, /Source \(the old master\) URL/);
    await type(w.stdin, 'sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster');
    await until(w.frames, /Sentinel mymaster \(3 Sentinels\) → 10\.0\.0\.5:6379 · Redis 7\.0\.15/);
    await until(w.frames, /Start a new local redis-server/);
    w.stdin.write('\u001b[B');
    await tick();
    w.stdin.write('\r');
    await until(w.frames, /Target URL/);
    await type(w.stdin, 'redis://10.0.0.9:6379');
    await until(w.frames, /How should the data be replicated/);
    w.stdin.write('\r');
    const repoint = await until(w.frames, /How do your applications move/);
    expect(repoint).toMatch(/❯ 1\. through Sentinel/);
    w.stdin.write('\r');
    await until(w.frames, /the old master should/);
    w.stdin.write('\r');
    await until(w.frames, /Run this migration now\?/);
    w.stdin.write('n');
    await exited(w);
    expect(deps.flags).toEqual([{ from: 'sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster', to: 'redis://10.0.0.9:6379', dataDir: undefined, sync: 'engine', repoint: 'none', retire: 'replica' }]);
  });
});
