/** `--json`: one JSON object per line on stdout (events, then a final done/failed). */
import type { EventSink } from '../core/events.js';

/** Writes each event as one JSON line to `out` (default stdout). */
export function createJsonSink(out: NodeJS.WritableStream = process.stdout): EventSink {
  return (e) => {
    out.write(`${JSON.stringify(e)}\n`);
  };
}
