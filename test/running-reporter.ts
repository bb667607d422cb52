/**
 * A vitest reporter that keeps, in the file named by FERRY_TEST_RUNNING (when set), the test files
 * started and not yet finished. `.ci/run` bounds the suite's wall time; when the bound is hit it
 * prints this file, so a hang names its file instead of leaving an empty log.
 */
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

export default class RunningFilesReporter implements Reporter {
  private readonly file = process.env.FERRY_TEST_RUNNING;
  private readonly running = new Map<string, number>();

  onTestModuleStart(m: TestModule): void {
    this.running.set(relative(process.cwd(), m.moduleId), Date.now());
    this.save();
  }

  onTestModuleEnd(m: TestModule): void {
    this.running.delete(relative(process.cwd(), m.moduleId));
    this.save();
  }

  private save(): void {
    if (!this.file) return;
    const now = Date.now();
    const lines = [...this.running].map(([f, t]) => `${f} (started ${new Date(t).toISOString()}, ${Math.round((now - t) / 1000)} s before the last file event)`);
    writeFileSync(this.file, lines.length ? `${lines.join('\n')}\n` : '');
  }
}
