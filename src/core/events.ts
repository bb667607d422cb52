/**
 * Events: what a run tells the outside world. The runner and the engine emit; a sink renders
 * (human lines on stderr, JSON lines on stdout, progress bars, the ink wizard).
 * Every event passes through `redactDeep` before it reaches a sink.
 */
import { redactDeep } from './redact.js';

export type FerryEvent =
  | { event: 'step.start'; step: string; title: string }
  | { event: 'step.done'; step: string; ms: number; skipped?: boolean; detail?: Record<string, unknown> }
  | { event: 'step.failed'; step: string; error: string }
  | { event: 'progress'; step: string; phase: string; done?: number; total?: number; unit?: string; detail?: Record<string, unknown> }
  | { event: 'warning'; message: string; step?: string }
  | { event: 'info'; message: string; step?: string }
  | { event: 'done'; exitCode: 0; report: Record<string, unknown> }
  | { event: 'failed'; exitCode: number; error: string; step?: string; resume?: string; report?: Record<string, unknown> };

export type EventSink = (e: FerryEvent & { ts: string }) => void;

/** Fans events out to sinks, stamping and redacting them once. */
export class EventBus {
  private sinks: EventSink[] = [];

  add(sink: EventSink): () => void {
    this.sinks.push(sink);
    return () => {
      this.sinks = this.sinks.filter((s) => s !== sink);
    };
  }

  emit(e: FerryEvent): void {
    const stamped = redactDeep({ ts: new Date().toISOString(), ...e });
    for (const s of this.sinks) s(stamped);
  }
}

/** Rate-limits `progress` events per step+phase to one per `intervalMs` (final values always pass). */
export function throttleProgress(sink: EventSink, intervalMs = 1000): EventSink {
  const last = new Map<string, number>();
  return (e) => {
    if (e.event !== 'progress') return sink(e);
    const key = `${e.step}/${e.phase}`;
    const now = Date.now();
    const isFinal = e.total !== undefined && e.done !== undefined && e.done >= e.total;
    if (!isFinal && now - (last.get(key) ?? 0) < intervalMs) return;
    last.set(key, now);
    sink(e);
  };
}
