/**
 * Picks the sinks for a command's output: JSON lines on stdout with --json (progress events at
 * most once per second per step and phase); otherwise the human log on stderr plus the progress
 * renderer (bars on a terminal, a plain line at most once per second elsewhere).
 */
import { type EventBus, throttleProgress } from '../core/events.js';
import { createJsonSink } from './json-sink.js';
import { createLogSink } from './log-sink.js';
import { createProgressSink } from './progress-sink.js';

export interface SinkOptions {
  json: boolean;
  /** Minimum time between two progress outputs, ms (default 1000). */
  progressIntervalMs?: number;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Detaches the sinks; `hold(ask)` keeps progress bars off the screen while a prompt is shown. */
export type Sinks = (() => void) & { hold<T>(ask: () => Promise<T>): Promise<T> };

/** Attaches the sinks to `bus`; returns a function that detaches them. */
export function createSinks(bus: EventBus, opts: SinkOptions): Sinks {
  const interval = opts.progressIntervalMs ?? 1000;
  if (opts.json) return Object.assign(bus.add(throttleProgress(createJsonSink(opts.stdout), interval)), { hold: <T>(ask: () => Promise<T>) => ask() });
  const stderr = opts.stderr ?? process.stderr;
  const progress = createProgressSink({ stream: stderr, intervalMs: interval });
  // NOTE: the log writes through the progress renderer so its lines land above any bar.
  const log = createLogSink({ write: (text: string) => progress.writeLine(text.replace(/\n$/, '')) } as NodeJS.WritableStream);
  // NOTE: progress first: it clears the bars of a finished step before the log line about it.
  const detach = bus.add((e) => {
    progress.sink(e);
    log(e);
  });
  return Object.assign(
    () => {
      detach();
      progress.stop();
    },
    { hold: progress.hold },
  );
}
