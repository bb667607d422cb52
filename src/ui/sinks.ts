/**
 * Picks the sinks for a command's output: JSON lines on stdout with --json, the human log on
 * stderr otherwise. Progress events are rate-limited. (Progress bars plug in here.)
 */
import { type EventBus, throttleProgress } from '../core/events.js';
import { createJsonSink } from './json-sink.js';
import { createLogSink } from './log-sink.js';

export interface SinkOptions {
  json: boolean;
  /** Minimum time between two progress events of one step and phase, ms. */
  progressIntervalMs?: number;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** Attaches the sinks to `bus`; returns a function that detaches them. */
export function createSinks(bus: EventBus, opts: SinkOptions): () => void {
  const sink = opts.json ? createJsonSink(opts.stdout) : createLogSink(opts.stderr);
  return bus.add(throttleProgress(sink, opts.progressIntervalMs ?? (opts.json ? 250 : 1000)));
}
