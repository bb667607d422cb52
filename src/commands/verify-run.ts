/** Runs `ferry verify` with the terminal's output and signals (loaded by commands/verify.ts). */
import { ExitCode, FerryError, InterruptedError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
import { createJsonSink } from '../ui/json-sink.js';
import { createProgressSink } from '../ui/progress-sink.js';
import { throttleProgress } from '../core/events.js';
import { type VerifyFlags, verifyOptionsFromFlags } from '../verify/options.js';
import { renderReport, verdict } from '../verify/report.js';
import { runVerify } from '../verify/verifier.js';
import { abortOnSignals } from './common.js';

/** Parses the flags, verifies, prints the report; exit 5 (a FerryError) when differences persist. */
export async function verifyCommand(flags: VerifyFlags & { json?: boolean }): Promise<void> {
  const opts = verifyOptionsFromFlags(flags);
  const bus = new EventBus();
  const progress = flags.json ? undefined : createProgressSink({ stream: process.stderr });
  const detach = bus.add(flags.json ? throttleProgress(createJsonSink()) : progress!.sink);
  const signals = abortOnSignals();
  try {
    const report = await runVerify({
      ...opts,
      signal: signals.signal,
      progress: (p) => bus.emit({ event: 'progress', step: 'verify', ...p }),
    }).catch((err) => {
      if (signals.signal.aborted) throw new InterruptedError('verify interrupted; nothing was changed');
      throw err;
    });
    progress?.stop();
    const summary = verdict(report);
    if (flags.json) {
      if (report.agree) bus.emit({ event: 'done', exitCode: 0, report: report as unknown as Record<string, unknown> });
      else bus.emit({ event: 'failed', exitCode: ExitCode.verifyDiff, error: summary, step: 'verify', report: report as unknown as Record<string, unknown> });
    } else process.stdout.write(renderReport(report));
    if (!report.agree) throw new FerryError(summary, ExitCode.verifyDiff);
  } catch (err) {
    if (flags.json && !(err instanceof FerryError && err.exitCode === ExitCode.verifyDiff)) {
      bus.emit({ event: 'failed', exitCode: err instanceof FerryError ? err.exitCode : ExitCode.internal, error: (err as Error).message, step: 'verify' });
    }
    throw err;
  } finally {
    progress?.stop();
    signals.dispose();
    detach();
  }
}
