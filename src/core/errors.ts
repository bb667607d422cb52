/**
 * The three error kinds of ferry (STYLE.md #4) and the documented exit codes.
 * Nothing deep in the code calls process.exit: errors travel up to the CLI's one catch.
 */

/** Documented exit codes (README "Exit codes"). */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  refused: 3,
  stepFailed: 4,
  verifyDiff: 5,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that carries its exit code; the message is one actionable sentence. */
export class FerryError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'FerryError';
  }
}

/** Bad flags, malformed URLs, unreadable files: exit 2. */
export class UsageError extends FerryError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.usage, hint);
    this.name = 'UsageError';
  }
}

/** A safety check refused to go on: exit 3. */
export class SafetyError extends FerryError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.refused, hint);
    this.name = 'SafetyError';
  }
}

/** A step failed; state is saved and the run is resumable: exit 4. */
export class StepError extends FerryError {
  constructor(
    readonly step: string,
    message: string,
    hint?: string,
  ) {
    super(message, ExitCode.stepFailed, hint);
    this.name = 'StepError';
  }
}

/** The user interrupted (SIGINT/SIGTERM, Ctrl-C in the wizard): exit 130. */
export class InterruptedError extends FerryError {
  constructor(message = 'interrupted') {
    super(message, ExitCode.interrupted);
    this.name = 'InterruptedError';
  }
}

/** Maps any thrown value to an exit code (internal errors are 1). */
export function exitCodeOf(err: unknown): ExitCodeValue {
  return err instanceof FerryError ? err.exitCode : ExitCode.internal;
}
