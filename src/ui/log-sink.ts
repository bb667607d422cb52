/**
 * Human step log, one line per event, on stderr. The final error line is printed by the CLI's
 * one catch, so a failure here only marks the step.
 */
import type { EventSink } from '../core/events.js';
import { STEP_IDS } from '../steps/step.js';
import { finalCheckLine, gateLine } from './verify-lines.js';

/** Writes human lines for events to `out` (default stderr). */
export function createLogSink(out: NodeJS.WritableStream = process.stderr): EventSink {
  const write = (line: string) => out.write(`${line}\n`);
  return (e) => {
    switch (e.event) {
      case 'step.start':
        return write(`→ ${stepNo(e.step)} ${e.step}: ${e.title}`);
      case 'step.done':
        return write(`✓ ${e.step}${e.skipped ? ` (${(e.detail?.reason as string) ?? 'already done'})` : ` (${e.ms} ms)`}`);
      case 'step.failed':
        return write(`✗ ${e.step}`);
      case 'progress':
        return; // drawn by the progress sink (bars, or a line at most once per second)
      case 'warning':
        return write(`! ${e.message}`);
      case 'info':
        return write(`  ${e.message}`);
      case 'done': {
        const r = e.report as { pauseMs?: number; finalOffset?: number; finalOffsets?: Record<string, number>; statePath?: string; undone?: string[]; startedServerPid?: number };
        if (r.undone) {
          const pid = r.startedServerPid ? ` The redis-server ferry started (pid ${r.startedServerPid}) is still running.` : '';
          return write(`Rolled back: undid ${r.undone.join(', ') || 'nothing'}; state in ${r.statePath}.${pid}`);
        }
        write(`Done. Writes paused ${r.pauseMs ?? '-'} ms on the old master; final offset ${r.finalOffset ?? '-'}; state in ${r.statePath}`);
        // A cluster source: each master's own offset (finalOffset is their sum).
        if (r.finalOffsets) write(`  final offset per source master: ${Object.entries(r.finalOffsets).map(([m, o]) => `${m} ${o}`).join(', ')}`);
        for (const line of [gateLine(e.report.verify), finalCheckLine(e.report.finalCheck)]) if (line) write(`  ${line}`);
        return;
      }
      case 'failed':
        return; // the CLI prints the one error line
    }
  };
}

function stepNo(id: string): string {
  const i = (STEP_IDS as readonly string[]).indexOf(id);
  return i >= 0 ? `[${i + 1}/${STEP_IDS.length}]` : '';
}
