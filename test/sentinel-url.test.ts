/** `sentinel://` URLs: parsing, printing without secrets, the spec and the state file (no servers). */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRedisUrl, toPublicUrl } from '../src/core/endpoint.js';
import { UsageError } from '../src/core/errors.js';
import { redact } from '../src/core/redact.js';
import { specFromFlags } from '../src/core/spec-from-flags.js';
import { loadState, newState, saveState, specFromState } from '../src/core/state.js';
import { loadPlaybook, parsePlaybook } from '../src/playbook/load.js';
import { stepIdsFor } from '../src/steps/step.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-sentinel-url-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sentinel:// URLs', () => {
  it('parse a list of Sentinels (default port 26379, IPv6 in brackets), the master name and its credentials', () => {
    const e = parseRedisUrl('sentinel://app:s%40cret@10.0.0.1:26380,10.0.0.2,[::1]:5000/my%20master', '--from');
    expect(e).toMatchObject({ host: '', port: 0, db: 0, username: 'app', password: 's@cret', tls: false });
    expect(e.sentinel).toEqual({
      name: 'my master',
      nodes: [
        { host: '10.0.0.1', port: 26380 },
        { host: '10.0.0.2', port: 26379 },
        { host: '::1', port: 5000 },
      ],
    });
    expect(toPublicUrl(e)).toBe('sentinel://app:***@10.0.0.1:26380,10.0.0.2:26379,[::1]:5000/my%20master');
    expect(parseRedisUrl(toPublicUrl({ ...e, password: undefined }), '--from').sentinel).toEqual(e.sentinel);
  });

  it.each([
    ['sentinel://127.0.0.1:26379', /names no master/],
    ['sentinel://127.0.0.1:26379/', /names no master/],
    ['sentinel:///mymaster', /has no host/],
    ['sentinel://127.0.0.1:99999/m', /port 1-65535/],
    ['sentinel://127.0.0.1:x/m', /not a Sentinel host:port/],
  ])('%s is a one-line usage error', (url, why) => {
    const err = (() => {
      try {
        parseRedisUrl(url, '--from');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(why);
    expect((err as Error).message).toMatch(/^--from: /);
  });

  it('are redacted in messages', () => {
    expect(redact('cannot reach sentinel://app:hunter2@127.0.0.1:1,127.0.0.1:2/m')).toBe('cannot reach sentinel://app:***@127.0.0.1:1,127.0.0.1:2/m');
  });

  it('build a spec: the Sentinels own password from FERRY_SENTINEL_PASSWORD, repoint none by default; never as --to', () => {
    const s = specFromFlags({ from: 'sentinel://127.0.0.1:26379/m', to: 'redis://127.0.0.1:7002' }, { FERRY_FROM_PASSWORD: 'mpw', FERRY_SENTINEL_PASSWORD: 'spw', FERRY_SENTINEL_USERNAME: 'sen' });
    expect(s.from.password).toBe('mpw');
    expect(s.from.sentinel).toMatchObject({ name: 'm', username: 'sen', password: 'spw' });
    expect(s.repoint).toEqual({ kind: 'none' });
    expect(specFromFlags({ from: 'sentinel://127.0.0.1:26379/m', to: 'redis://127.0.0.1:7002', repoint: 'manual' }, {}).repoint).toEqual({ kind: 'manual' });
    expect(() => specFromFlags({ from: 'redis://127.0.0.1:1', to: 'sentinel://127.0.0.1:26379/m' }, {})).toThrow(/--to: a sentinel:\/\/ URL is only for --from/);
    expect(stepIdsFor(s)).toEqual(['preflight', 'provision', 'backlog', 'replicate', 'converge', 'verify', 'open-writes', 'repoint', 'sentinel-prepare', 'fence', 'sentinel', 'promote', 'final-check', 'reparent', 'retire']);
    expect(stepIdsFor(specFromFlags({ from: 'redis://127.0.0.1:1', to: 'redis://127.0.0.1:2' }, {}))).not.toContain('sentinel');
  });

  it('are stored without secrets; resume asks for FERRY_SENTINEL_PASSWORD when the run had one', () => {
    const spec = specFromFlags({ from: 'sentinel://:mpw@127.0.0.1:26379,127.0.0.1:26380/m', to: 'redis://127.0.0.1:7002' }, { FERRY_SENTINEL_PASSWORD: 'spw' });
    const p = join(dir, 'a.json');
    saveState(p, newState(spec));
    const text = readFileSync(p, 'utf8');
    expect(text).not.toMatch(/mpw|spw/);
    const state = loadState(p);
    expect(Object.keys(state.steps)).toContain('sentinel');
    expect(() => specFromState(state, { FERRY_FROM_PASSWORD: 'mpw' })).toThrow(/FERRY_SENTINEL_PASSWORD/);
    const back = specFromState(state, { FERRY_FROM_PASSWORD: 'mpw', FERRY_SENTINEL_PASSWORD: 'spw' });
    expect(back.from.sentinel).toEqual({ name: 'm', nodes: [{ host: '127.0.0.1', port: 26379 }, { host: '127.0.0.1', port: 26380 }], username: undefined, password: 'spw' });
    expect(back.from.password).toBe('mpw');
  });

  it('work in playbooks, and a literal password in one draws the warning', () => {
    const book = parsePlaybook('version: 1\nfrom: sentinel://:pw@127.0.0.1:26379/m\nto: start\n', join(dir, 'p.yaml'), {});
    expect(book.flags.from).toBe('sentinel://:pw@127.0.0.1:26379/m');
    expect(book.warnings.join()).toMatch(/"from" holds a password/);
    expect(specFromFlags(book.flags, {}).from.sentinel?.name).toBe('m');
  });

  it('playbooks/behind-sentinel.yaml builds a native Sentinel spec from the environment', () => {
    const book = loadPlaybook(new URL('../playbooks/behind-sentinel.yaml', import.meta.url).pathname, { SENTINELS: '10.0.0.1:26379,10.0.0.2:26379' });
    const spec = specFromFlags(book.flags, {});
    expect(spec.from.sentinel).toMatchObject({ name: 'mymaster', nodes: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }] });
    expect(spec).toMatchObject({ sync: 'native', repoint: { kind: 'none' }, retire: 'replica', pauseTimeoutMs: 5000 });
  });
});
