import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/core/errors.js';
import { interpolate } from '../src/playbook/interpolate.js';
import { loadPlaybook, parsePlaybook } from '../src/playbook/load.js';

const dir = join(import.meta.dirname, '..', 'playbooks');
const env = {
  FERRY_SOURCE_URL: 'redis://127.0.0.1:7001',
  FERRY_TARGET_URL: 'redis://127.0.0.1:7002',
  MANAGED_URL: 'rediss://default:s3cret@127.0.0.1:7003',
  REPOINT_HOOK: './hook.sh',
};

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('playbook interpolation', () => {
  it('replaces ${NAME}, ${NAME:-default} and $$', () => {
    expect(interpolate('a${X}b${Y:-dflt}c$$d', { X: '1' })).toEqual({ value: 'a1bdfltc$d', used: ['X', 'Y'] });
    expect(interpolate('${Y:-d}', { Y: '' }).value).toBe('d');
  });
});

describe('shipped playbooks', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  it('ships the three documented playbooks', () => {
    expect(files).toEqual(expect.arrayContaining(['ci-smoke.yaml', 'same-host-upgrade.yaml', 'to-managed.yaml']));
  });
  it.each(files)('%s validates and is documented by comments', (f) => {
    const p = loadPlaybook(join(dir, f), env);
    expect(p.flags.from).toMatch(/^(redis|sentinel):/);
    expect(p.flags.to).toBeTruthy();
    expect(p.warnings).toEqual([]);
  });
  it('to-managed takes the TLS URL and hook from the environment', () => {
    const p = loadPlaybook(join(dir, 'to-managed.yaml'), env);
    expect(p.flags).toMatchObject({ to: env.MANAGED_URL, sync: 'engine', repoint: 'exec:./hook.sh', hookTimeout: '600000' });
  });
  it('same-host-upgrade starts a new local instance with native sync', () => {
    const p = loadPlaybook(join(dir, 'same-host-upgrade.yaml'), { NEW_PORT: '7010', FERRY_DATA_DIR: '/tmp/x' });
    expect(p.flags).toMatchObject({ from: 'redis://127.0.0.1:6379', to: 'start:7010', sync: 'native', dataDir: '/tmp/x' });
    expect(p.flags.serverArg).toContain('appendonly yes');
  });
});

describe('invalid playbooks', () => {
  const base = 'version: 1\nfrom: redis://127.0.0.1:1\nto: start:7000\n';
  it('a wrong value names the field, the line and what was given', () => {
    const e = errorOf(() => parsePlaybook(`${base}sync: native\nretire: kill\n`, 'p.yaml', {}));
    expect(e).toBeInstanceOf(UsageError);
    expect(e.message).toBe('playbook p.yaml line 5: "retire" must be replica, keep or shutdown (got "kill")');
  });
  it('an unknown field names the line and suggests the right one', () => {
    const e = errorOf(() => parsePlaybook(`${base}\npause-timout: 100\n`, 'p.yaml', {}));
    expect(e.message).toBe('playbook p.yaml line 5: unknown field "pause-timout"; did you mean "pause-timeout"?');
  });
  it('a missing variable names the variable, the field and the line', () => {
    const e = errorOf(() => parsePlaybook('version: 1\nto: start\nfrom: redis://127.0.0.1:${SRC_PORT}\n', 'p.yaml', {}));
    expect(e.message).toMatch(/^playbook p\.yaml line 3: "from" uses \$\{SRC_PORT\} but environment variable SRC_PORT is not set/);
  });
  it('a missing field, bad YAML and a bad number are usage errors', () => {
    expect(errorOf(() => parsePlaybook('version: 1\nfrom: redis://h:1\n', 'p.yaml', {})).message).toMatch(/required field "to" is missing/);
    expect(errorOf(() => parsePlaybook('version: 1\nfrom: [\n', 'p.yaml', {})).message).toMatch(/^playbook p\.yaml line \d+: invalid YAML/);
    expect(errorOf(() => parsePlaybook(`${base}pause-timeout: \${T}\n`, 'p.yaml', { T: 'soon' })).message).toBe(
      'playbook p.yaml line 4: "pause-timeout" must be a whole number of milliseconds (got "soon")',
    );
    expect(errorOf(() => parsePlaybook('version: 2\nfrom: a\nto: b\n', 'p.yaml', {})).message).toMatch(/line 1: "version" must be 1/);
    expect(errorOf(() => loadPlaybook('/nonexistent/p.yaml', {})).message).toMatch(/cannot read \/nonexistent\/p\.yaml \(ENOENT\)/);
  });
  it('warns about a password written in the file, not about one from the environment', () => {
    expect(parsePlaybook('version: 1\nfrom: redis://:pw@h:1\nto: start\n', 'p.yaml', {}).warnings[0]).toMatch(/"from" holds a password/);
    expect(parsePlaybook('version: 1\nfrom: redis://:${P}@h:1\nto: start\n', 'p.yaml', { P: 'x' }).warnings).toEqual([]);
  });
});
