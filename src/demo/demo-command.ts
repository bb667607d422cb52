/** The terminal side of `ferry demo`: flags, signals, sinks, and the report on stdout. */
import { abortOnSignals } from '../commands/common.js';
import { FerryError, UsageError } from '../core/errors.js';
import { createSinks } from '../ui/sinks.js';
import { demoExitCode, formatDemoReport, runDemo } from './demo.js';

/** Runs the demo; exits non-zero (through the CLI's one catch) when a write was lost. */
export async function runDemoCommand(flags: { keys: string; lanes: string; sync: string }): Promise<void> {
  const keys = wholeNumber(flags.keys, '--keys', 0);
  const lanes = wholeNumber(flags.lanes, '--lanes', 1);
  if (flags.sync !== 'native' && flags.sync !== 'engine') throw new UsageError(`--sync: "${flags.sync}" is not one of native, engine`);
  const signals = abortOnSignals();
  try {
    const report = await runDemo({
      keys,
      lanes,
      sync: flags.sync,
      log: (line) => process.stderr.write(`${line}\n`),
      attachSinks: (bus) => createSinks(bus, { json: false }),
      signal: signals.signal,
    });
    process.stdout.write(formatDemoReport(report));
    const code = demoExitCode(report);
    if (code !== 0) throw new FerryError(`${report.lost} acknowledged writes are missing on the new master`, code as 5);
  } finally {
    signals.dispose();
  }
}

function wholeNumber(text: string, flag: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: "${text}" is not a whole number >= ${min}`);
  return n;
}
