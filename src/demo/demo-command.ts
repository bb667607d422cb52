/** The terminal side of `ferry demo`: flags, signals, sinks, and the report on stdout. */
import { abortOnSignals } from '../commands/common.js';
import { exitCodeOf, FerryError, InterruptedError, UsageError } from '../core/errors.js';
import { EventBus, throttleProgress, type FerryEvent } from '../core/events.js';
import { createJsonSink } from '../ui/json-sink.js';
import { createSinks } from '../ui/sinks.js';
import { demoExitCode, demoReportData, formatDemoReport, runDemo, type DemoOptions } from './demo.js';

export interface DemoFlags {
  keys: string;
  lanes: string;
  sync: string;
  json?: boolean;
}

/**
 * Runs the demo; exits non-zero (through the CLI's one catch) when a write was lost.
 * Human: progress lines and the run's log on stderr, the cutover report on stdout. `--json`: only
 * JSON lines on stdout, as `ferry run --json` writes them, ending with one `done` (the report as
 * data) or `failed` event of the demo; the inner run's own done/failed are left out, since the
 * state file they name is removed with the rest.
 */
export async function runDemoCommand(flags: DemoFlags): Promise<void> {
  const keys = wholeNumber(flags.keys, '--keys', 0);
  const lanes = wholeNumber(flags.lanes, '--lanes', 1);
  if (flags.sync !== 'native' && flags.sync !== 'engine') throw new UsageError(`--sync: "${flags.sync}" is not one of native, engine`);
  const out = flags.json ? jsonOutput() : undefined;
  const signals = abortOnSignals();
  try {
    const opts: DemoOptions = out
      ? { keys, lanes, sync: flags.sync, log: out.log, attachSinks: out.attach, signal: signals.signal }
      : { keys, lanes, sync: flags.sync, log: (line) => process.stderr.write(`${line}\n`), attachSinks: (bus) => createSinks(bus, { json: false }), signal: signals.signal };
    let report;
    try {
      report = await runDemo(opts);
    } catch (raw) {
      // NOTE: the runner's interrupt message names a resume command for a state file the demo removed.
      const err = raw instanceof InterruptedError ? new InterruptedError('interrupted; the demo stopped its servers and removed everything it created') : raw;
      out?.bus.emit({ event: 'failed', exitCode: exitCodeOf(err), error: (err as Error)?.message ?? String(err) });
      throw err;
    }
    const code = demoExitCode(report);
    const lost = `${report.lost} acknowledged writes are missing on the new master`;
    if (!out) process.stdout.write(formatDemoReport(report));
    else if (code === 0) out.bus.emit({ event: 'done', exitCode: 0, report: { sync: flags.sync, ...demoReportData(report) } });
    else out.bus.emit({ event: 'failed', exitCode: code, error: lost, report: { sync: flags.sync, ...demoReportData(report) } });
    if (code !== 0) throw new FerryError(lost, code as 5);
  } finally {
    signals.dispose();
  }
}

/** `--json`: the demo's own lines as `info` events and the run's events, one JSON line each. */
function jsonOutput(): { bus: EventBus; log(line: string): void; attach(bus: EventBus): () => void } {
  const sink = throttleProgress(createJsonSink(process.stdout), 1000);
  const bus = new EventBus();
  bus.add(sink);
  return {
    bus,
    log: (line) => bus.emit({ event: 'info', step: 'demo', message: line.trim() }),
    attach: (run) => run.add((e: FerryEvent & { ts: string }) => (e.event === 'done' || e.event === 'failed' ? undefined : sink(e))),
  };
}

function wholeNumber(text: string, flag: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: "${text}" is not a whole number >= ${min}`);
  return n;
}
