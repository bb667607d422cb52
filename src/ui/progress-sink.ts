/**
 * Progress for `ferry run`/`ferry sync` without the wizard, driven by `progress` events:
 * - on a terminal: cli-progress bars on stderr, one per step/phase (RDB bytes, keys applied,
 *   lag bytes behind, drain clients left), cleared when their step ends;
 * - elsewhere: one plain line summarising the current step's progress, at most once per second.
 * (With --json, progress goes out as throttled JSON events instead: see createSinks.)
 */
import cliProgress from 'cli-progress';
import type { EventSink, FerryEvent } from '../core/events.js';
import { formatBytes, formatCount, formatQuantity } from './format.js';

type ProgressEvent = Extract<FerryEvent, { event: 'progress' }>;

/** What a progress renderer offers its owner. */
export interface ProgressSink {
  sink: EventSink;
  /** Writes a line above the bars (or plainly, when no bar is shown). */
  writeLine(text: string): void;
  /** Removes any bar from the screen. */
  stop(): void;
  /** Keeps bars off the screen while `ask` runs (a terminal prompt must not be drawn over). */
  hold<T>(ask: () => Promise<T>): Promise<T>;
}

export interface ProgressSinkOptions {
  stream?: NodeJS.WriteStream | (NodeJS.WritableStream & { isTTY?: boolean; columns?: number });
  /** Defaults to the stream's isTTY. */
  tty?: boolean;
  /** Minimum time between two plain lines, ms. */
  intervalMs?: number;
  now?: () => number;
}

/** How one progress event reads: a label, its figures, and a completion ratio when it has one. */
export interface ProgressView {
  label: string;
  text: string;
  ratio?: number;
}

const LABELS: Record<string, string> = {
  'initial sync': 'RDB transfer',
  rdb: 'RDB transfer',
  keys: 'keys applied',
  'catch up': 'lag',
  stream: 'lag',
  lag: 'lag',
  drain: 'clients left',
  compare: 'keys compared',
  verify: 'keys compared',
  recheck: 'rechecking',
  'final check': 'final check',
};

/**
 * Reads a progress event. Phases the steps emit: `initial sync` / `rdb` (RDB bytes), `keys` (keys
 * applied), `catch up` / `stream` (offsets, with detail.lagBytes or detail.behind = bytes behind),
 * `drain` (clients that left of those connected: shown as clients left). Unknown phases show their
 * name and figures.
 */
export function progressView(e: ProgressEvent): ProgressView {
  const label = LABELS[e.phase] ?? e.phase;
  const lagBytes = e.detail?.lagBytes ?? e.detail?.behind;
  if (typeof lagBytes === 'number') return { label, text: `${formatBytes(lagBytes)} behind` };
  if (e.phase === 'drain' && e.total !== undefined && e.done !== undefined) {
    return { label, text: `${formatCount(e.total - e.done)} of ${formatCount(e.total)} still on the old master`, ratio: e.total > 0 ? e.done / e.total : 1 };
  }
  if (e.done === undefined) return { label, text: '' };
  if (e.total === undefined || e.total <= 0) return { label, text: formatQuantity(e.done, e.unit) };
  const ratio = Math.min(1, e.done / e.total);
  return { label, text: `${formatQuantity(e.done, e.unit)} / ${formatQuantity(e.total, e.unit)} (${Math.floor(ratio * 100)}%)`, ratio };
}

/** One phase as one line: "RDB transfer 12.0 MiB / 40.0 MiB (30%)", "lag 1.2 MiB behind". */
export function describeProgress(e: ProgressEvent): string {
  const v = progressView(e);
  return v.text ? `${v.label} ${v.text}` : v.label;
}

/** Creates the renderer that fits the stream: bars on a TTY, throttled lines elsewhere. */
export function createProgressSink(opts: ProgressSinkOptions = {}): ProgressSink {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? Boolean((stream as { isTTY?: boolean }).isTTY);
  return tty ? barSink(stream) : lineSink(stream, opts.intervalMs ?? 1000, opts.now ?? Date.now);
}

const BAR_WIDTH = 28;

function barSink(stream: NodeJS.WritableStream): ProgressSink {
  let multi: cliProgress.MultiBar | undefined;
  const bars = new Map<string, cliProgress.SingleBar>();
  let held = 0;

  const format: cliProgress.GenericFormatter = (_o, _params, payload: { e: ProgressEvent }) => {
    const v = progressView(payload.e);
    const label = v.label.padEnd(14);
    if (v.ratio === undefined) return `  ${label} ${v.text}`;
    const filled = Math.round(v.ratio * BAR_WIDTH);
    return `  ${label} ${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)} ${v.text}`;
  };

  function clear(): void {
    // NOTE: update() first: it flushes lines queued by writeLine and draws the final values.
    multi?.update();
    multi?.stop();
    multi = undefined;
    bars.clear();
  }

  function show(e: ProgressEvent): void {
    multi ??= new cliProgress.MultiBar({ stream, format, clearOnComplete: true, hideCursor: true, fps: 5, gracefulExit: false });
    const key = `${e.step}/${e.phase}`;
    const total = e.total && e.total > 0 ? e.total : 1;
    const bar = bars.get(key);
    if (!bar) bars.set(key, multi.create(total, e.done ?? 0, { e }));
    else {
      bar.setTotal(total);
      bar.update(e.done ?? 0, { e });
    }
  }

  return {
    sink(e) {
      if (e.event === 'progress') {
        if (!held) show(e);
      } else if (e.event !== 'info' && e.event !== 'warning') clear();
    },
    writeLine(text) {
      if (multi) {
        multi.log(`${text}\n`);
        multi.update();
      }
      else stream.write(`${text}\n`);
    },
    stop: clear,
    async hold(ask) {
      held++;
      clear();
      try {
        return await ask();
      } finally {
        held--;
      }
    },
  };
}

function lineSink(stream: NodeJS.WritableStream, intervalMs: number, now: () => number): ProgressSink {
  const latest = new Map<string, ProgressEvent>();
  let step: string | undefined;
  let lastPrint = -Infinity;
  return {
    sink(e) {
      if (e.event !== 'progress') {
        if (e.event === 'step.start' || e.event === 'step.done' || e.event === 'step.failed') latest.clear();
        return;
      }
      if (e.step !== step) latest.clear();
      step = e.step;
      latest.set(e.phase, e);
      const t = now();
      if (t - lastPrint < intervalMs) return;
      lastPrint = t;
      stream.write(`  ${e.step}: ${[...latest.values()].map(describeProgress).join(' · ')}\n`);
    },
    writeLine(text) {
      stream.write(`${text}\n`);
    },
    stop() {
      latest.clear();
    },
    hold: (ask) => ask(),
  };
}
