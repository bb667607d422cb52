import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { FerryEvent } from '../src/core/events.js';
import { createProgressSink, describeProgress } from '../src/ui/progress-sink.js';

function capture(isTTY: boolean) {
  const stream = Object.assign(new PassThrough(), { isTTY, columns: 100 });
  let out = '';
  stream.on('data', (d: Buffer) => (out += d.toString()));
  return { stream, text: () => out };
}

const stamp = <E extends FerryEvent>(e: E) => ({ ts: new Date().toISOString(), ...e });

describe('progress sink', () => {
  it('describes a phase with sizes and a percentage', () => {
    expect(describeProgress({ event: 'progress', step: 'converge', phase: 'initial sync', done: 1536, total: 3072, unit: 'bytes' })).toBe(
      'RDB transfer 1.5 KiB / 3.0 KiB (50%)',
    );
    expect(describeProgress({ event: 'progress', step: 'converge', phase: 'initial sync', done: 1536, unit: 'bytes' })).toBe('RDB transfer 1.5 KiB');
    expect(describeProgress({ event: 'progress', step: 'converge', phase: 'catch up', done: 900, total: 1000, unit: 'offset', detail: { lagBytes: 100 } })).toBe(
      'lag 100 B behind',
    );
    expect(describeProgress({ event: 'progress', step: 'sync', phase: 'stream', done: 5000, unit: 'offset', detail: { received: 7048, behind: 2048 } })).toBe(
      'lag 2.0 KiB behind',
    );
    expect(describeProgress({ event: 'progress', step: 'repoint', phase: 'drain', done: 1, total: 4, unit: 'clients' })).toBe('clients left 3 of 4 still on the old master');
    expect(describeProgress({ event: 'progress', step: 'sync', phase: 'keys', done: 1200, total: 4800, unit: 'keys' })).toBe('keys applied 1,200 keys / 4,800 keys (25%)');
  });

  it('without a TTY prints at most one line per interval, summarising every phase of the step', () => {
    let t = 0;
    const c = capture(false);
    const p = createProgressSink({ stream: c.stream, now: () => t });
    p.sink(stamp({ event: 'step.start', step: 'converge', title: 'Converge' }));
    for (let i = 0; i < 50; i++) {
      t += 100; // 5 simulated seconds
      p.sink(stamp({ event: 'progress', step: 'converge', phase: 'keys', done: i * 10, total: 490, unit: 'keys' }));
      p.sink(stamp({ event: 'progress', step: 'converge', phase: 'catch up', done: i, total: 1000, unit: 'offset', detail: { lagBytes: 1000 - i } }));
    }
    const lines = c.text().trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(lines.length).toBeLessThanOrEqual(6);
    expect(lines.at(-1)).toMatch(/^ {2}converge: keys applied [\d,]+ keys \/ 490 keys \(\d+%\) · lag \d+ B behind$/);
  });

  it('on a TTY draws bars on the stream and clears them when the step ends', () => {
    const c = capture(true);
    const p = createProgressSink({ stream: c.stream });
    p.sink(stamp({ event: 'progress', step: 'replicate', phase: 'initial sync', done: 512, total: 1024, unit: 'bytes' }));
    p.sink(stamp({ event: 'progress', step: 'replicate', phase: 'keys', done: 40, total: 100, unit: 'keys' }));
    p.writeLine('a log line');
    p.sink(stamp({ event: 'step.done', step: 'replicate', ms: 10 }));
    const out = c.text();
    expect(out).toContain('RDB transfer');
    expect(out).toContain('512 B / 1.0 KiB (50%)');
    expect(out).toContain('keys applied');
    expect(out).toContain('a log line');
    expect(out).toContain('\u001b[?25h'); // cursor shown again after stop
  });

  it('on a TTY draws nothing while a prompt holds the screen', async () => {
    const c = capture(true);
    const p = createProgressSink({ stream: c.stream });
    let during = '';
    await p.hold(async () => {
      p.sink(stamp({ event: 'progress', step: 'repoint', phase: 'drain', done: 1, total: 3, unit: 'clients' }));
      during = c.text();
    });
    expect(during).toBe('');
    p.sink(stamp({ event: 'progress', step: 'repoint', phase: 'drain', done: 2, total: 3, unit: 'clients' }));
    p.stop();
    expect(c.text()).toContain('clients left');
  });
});
