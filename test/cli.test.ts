/**
 * The CLI as a new user meets it, through the real binary: --version, and commander's own errors
 * (unknown command or option, missing value or argument) as one `ferry:` line naming the help to
 * read, exit 2; and the slips that would cost data (ferry sync into its own source).
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specFromFlags } from '../src/core/spec-from-flags.js';
import { newState } from '../src/core/state.js';
import { packageVersion } from '../src/core/version.js';
import { formatStatus } from '../src/ui/format-status.js';
import { BIN, ferry, ROOT, snapshot } from './helpers/cli.js';
import { startRedis } from './helpers/redis-server.js';
import { startTmux, type TmuxSession } from './helpers/tmux.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ferry-cli-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('ferry --version', () => {
  it.each(['--version', '-V'])('%s prints the package version on stdout and exits 0', async (flag) => {
    const r = await ferry([flag], { cwd: tmp });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(VERSION); // execa strips the final newline
    expect(r.stderr).toBe('');
  });

  it('reads the package.json of the installed package, wherever it is installed', async () => {
    // The layout npm makes: node_modules/redis-ferry/{bin,dist,package.json}, run from elsewhere.
    const pkg = join(tmp, 'app', 'node_modules', 'redis-ferry');
    mkdirSync(pkg, { recursive: true });
    cpSync(join(ROOT, 'bin'), join(pkg, 'bin'), { recursive: true });
    cpSync(join(ROOT, 'dist'), join(pkg, 'dist'), { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'redis-ferry', version: '9.8.7-test', type: 'module' }));
    symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules')); // its dependencies
    writeFileSync(join(tmp, 'app', 'package.json'), JSON.stringify({ name: 'someone-elses-app', version: '1.0.0' }));
    const r = await execa('node', [join(pkg, 'bin', 'ferry'), '--version'], { cwd: join(tmp, 'app'), reject: false, timeout: 20_000, stdin: 'ignore' });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(r.stdout).toBe('9.8.7-test');
  });

  it('skips package.json files of other packages on the way up', () => {
    const nested = join(tmp, 'walk', 'dist', 'src', 'core');
    mkdirSync(nested, { recursive: true });
    writeFileSync(join(tmp, 'walk', 'package.json'), JSON.stringify({ name: 'redis-ferry', version: '1.2.3' }));
    writeFileSync(join(tmp, 'walk', 'dist', 'package.json'), JSON.stringify({ type: 'module' }));
    expect(packageVersion(nested)).toBe('1.2.3');
    expect(packageVersion('/')).toBe('unknown');
  });
});

describe('ferry --help', () => {
  it('names the wizard, where the flags are, and the exit codes', async () => {
    const r = await ferry(['--help'], { cwd: tmp });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}-V, --version +print the version of ferry and exit$/m);
    expect(r.stdout).toContain('Run ferry with no arguments in a terminal for the wizard');
    expect(r.stdout).toMatch(/Exit codes: 0 done, 1 internal error \(a bug\), 2 bad input, 3 refused by a safety check \(nothing changed\),\n4 a step failed/);
  });

  it.each(['run', 'plan', 'sync', 'verify'])('ferry %s --help: repeatable flags show no "(default: [])"', async (cmd) => {
    const r = await ferry([cmd, '--help'], { cwd: tmp });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--include <glob> .*\(repeatable\)/);
    expect(r.stdout).not.toContain('(default: [])');
  });
});

describe('usage errors from the command line parser', () => {
  it.each([
    [['plna'], /^ferry: unknown command 'plna' \(Did you mean plan\?\); see ferry --help$/],
    [['--bogus'], /^ferry: unknown option '--bogus'; see ferry --help$/],
    [['run', '--jsn'], /^ferry: unknown option '--jsn' \(Did you mean --json\?\); see ferry run --help$/],
    [['run', '--from'], /^ferry: option '--from <url>' argument missing; see ferry run --help$/],
    [['status'], /^ferry: required option '--state <file>' not specified; see ferry status --help$/],
    [['rdb', 'inspect'], /^ferry: missing required argument 'file'; see ferry rdb inspect --help$/],
    [['demo', 'extra'], /^ferry: too many arguments for 'demo'\. Expected 0 arguments but got 1; see ferry demo --help$/],
  ])('ferry %j: one line naming the help, exit 2', async (args, line) => {
    const r = await ferry(args, { cwd: tmp });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(line);
  });

  it('rollback names a wrong --state before it asks for --yes', async () => {
    const r = await ferry(['rollback', '--state', join(tmp, 'missing.json')], { cwd: tmp });
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toBe(`ferry: cannot read the state file ${join(tmp, 'missing.json')}; check --state`);
  });
});

describe('ferry sync with --to the same server as --from', () => {
  it('is refused (exit 3) before anything is written, also with --flush-target', async () => {
    const s = await startRedis();
    try {
      const c = s.client();
      await c.mset({ a: '1', b: '2', c: '3' });
      const before = await snapshot(c);
      const r = await ferry(['sync', '--from', s.url, '--to', s.url, '--flush-target', '--until-caught-up'], { cwd: tmp, timeoutMs: 20_000 });
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr.trimEnd()).toMatch(/^ferry: --from and --to are the same server \(run_id [0-9a-f]{8}…\); point --to at the target$/);
      expect(await snapshot(c)).toEqual(before); // the 3 keys are still there (without the check: 0)
      c.disconnect();
    } finally {
      await s.stop();
    }
  });
});

describe('ferry run in a terminal', () => {
  let tty: TmuxSession | undefined;
  afterAll(() => tty?.kill());

  it('Ctrl-C at the confirmation prompt: exit 130, one line, no state file, both servers unchanged (was an internal error, exit 1)', async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()]);
    const dir = mkdtempSync(join(tmp, 'run-tty-'));
    try {
      const ca = a.client();
      const cb = b.client();
      await ca.set('k', 'v');
      const before = [await snapshot(ca), await snapshot(cb)];
      const t = (tty = startTmux(dir, `node '${BIN}' run --from ${a.url} --to ${b.url} --sync native 2>&1`));
      await t.waitFor(/\(sync native, retire replica\)\? \[y\/N\]/, 20_000);
      t.keys('C-c');
      expect(await t.exitCode(10_000)).toBe(130);
      const screen = t.screen();
      expect(screen).toMatch(/^ferry: interrupted before anything was changed$/m);
      expect(screen).not.toMatch(/internal error|AbortError|resume --state/);
      expect(existsSync(join(dir, '.ferry')) ? readdirSync(join(dir, '.ferry')) : []).toEqual([]);
      expect([await snapshot(ca), await snapshot(cb)]).toEqual(before);
      ca.disconnect();
      cb.disconnect();
    } finally {
      tty?.kill();
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

describe('ferry status of a stopped run', () => {
  const state = () => newState(specFromFlags({ from: 'redis://127.0.0.1:6379', to: 'redis://127.0.0.1:6380' }, {}));

  it('names resume, and rollback while the target is not promoted', () => {
    const s = state();
    s.status = 'interrupted';
    s.steps.preflight.status = 'done';
    s.steps.replicate.status = 'done';
    s.steps.repoint = { status: 'failed', error: 'interrupted' };
    const text = formatStatus(s, 'run.json');
    expect(text).toContain('Continue with: ferry resume --state run.json\nOr undo with: ferry rollback --state run.json\n');
  });

  it('names no rollback once promotion started, and nothing once the run is over', () => {
    const s = state();
    s.status = 'failed';
    s.steps.promote.status = 'running';
    expect(formatStatus(s, 'run.json')).toContain('Continue with: ferry resume --state run.json');
    expect(formatStatus(s, 'run.json')).not.toContain('rollback');
    s.status = 'done';
    expect(formatStatus(s, 'run.json')).not.toMatch(/resume|rollback/);
  });
});
