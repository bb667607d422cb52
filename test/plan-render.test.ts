import { describe, expect, it } from 'vitest';
import type { Plan } from '../src/core/plan.js';
import { colorEnabled, palette } from '../src/ui/colors.js';
import { renderPlan } from '../src/ui/plan-render.js';

const plan: Plan = {
  version: 1,
  sync: 'native',
  source: 'redis://127.0.0.1:6379',
  target: 'redis://:***@127.0.0.1:6380',
  findings: { refusals: ['the target holds 3 keys; --flush-target accepts that they are deleted'], warnings: ['repl-backlog-size 1 MiB is small for 5 MiB/s of writes'] },
  facts: {
    source: { version: '7.0.15', role: 'master', keys: 12345, usedMemory: 3 * 1024 * 1024 },
    target: { version: '7.2.4', role: 'master', keys: 3, usedMemory: 1024 * 1024 },
    writeRateBytesPerSec: 2048,
  },
  backlog: { policy: 'keep', current: 1024 * 1024, set: null, writeRate: 2048, windowSec: 60, coversSec: 512, why: '--backlog keep' },
  steps: [
    { id: 'preflight', title: 'Check both servers', commands: [{ on: 'source', command: 'INFO all' }] },
    { id: 'replicate', title: 'Start replicating', commands: [{ on: 'target', command: 'REPLICAOF 127.0.0.1 6379', note: 'full sync' }] },
    { id: 'reparent', title: 'Point the other replicas at the new master', commands: [] },
  ],
};

describe('plan renderer', () => {
  it('numbers the steps, names the server of each command, and lists the advice and refusals', () => {
    const text = renderPlan(plan);
    expect(text.split('\n')).toEqual(
      expect.arrayContaining([
        'Plan  redis://127.0.0.1:6379 → redis://:***@127.0.0.1:6380  (sync: native)',
        '  source  redis 7.0.15 · master · 12,345 keys · 3.0 MiB used · writes ≈ 2.0 KiB/s',
        '  target  redis 7.2.4 · master · 3 keys · 1.0 MiB used',
        '  ✗ refused: the target holds 3 keys; --flush-target accepts that they are deleted',
        '  ! advice: repl-backlog-size 1 MiB is small for 5 MiB/s of writes',
        ' #  step       server  command',
        ' 1  preflight  Check both servers',
        '               source  INFO all',
        ' 2  replicate  Start replicating',
        '               target  REPLICAOF 127.0.0.1 6379',
        '                       ↳ full sync',
        ' 3  reparent   Point the other replicas at the new master',
        '               (nothing to do)',
      ]),
    );
    expect(text).toMatch(/refuses to run this plan/);
    expect(text).not.toMatch(/\u001b\[/);
  });

  it('colours only when the terminal supports it and NO_COLOR is not set', () => {
    expect(renderPlan(plan, palette(true))).toMatch(/\u001b\[31m✗ refused:\u001b\[39m/);
    expect(colorEnabled({ isTTY: true }, { TERM: 'xterm' })).toBe(true);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1', TERM: 'xterm' })).toBe(false);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colorEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
  });
});
