/** The state file: atomic, 0600, versioned, locked, and without secrets. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { specFromFlags } from '../src/core/spec-from-flags.js';
import { loadState, lockState, newState, saveState, specFromState } from '../src/core/state.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-state-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec = specFromFlags({ from: 'redis://app:hunter2@127.0.0.1:7001', to: 'redis://:tpw@127.0.0.1:7002', repoint: 'none' }, {});

describe('state file', () => {
  it('is written atomically (a new inode per save, no temp file left) with mode 0600', () => {
    const p = join(dir, 'a.json');
    const s = newState(spec);
    saveState(p, s);
    const first = statSync(p).ino;
    s.steps.preflight.status = 'done';
    saveState(p, s);
    expect(statSync(p).ino).not.toBe(first); // replaced by rename, never rewritten in place
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    expect(loadState(p).steps.preflight.status).toBe('done');
  });

  it('holds no password, and resume takes them from the environment', () => {
    const p = join(dir, 'b.json');
    const s = newState(spec);
    s.events.push({ event: 'info', message: 'connect redis://app:hunter2@127.0.0.1:7001' });
    saveState(p, s);
    const text = readFileSync(p, 'utf8');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('tpw');
    const loaded = loadState(p);
    expect(() => specFromState(loaded, {})).toThrow(/set FERRY_FROM_PASSWORD/);
    const back = specFromState(loaded, { FERRY_FROM_PASSWORD: 'hunter2', FERRY_TO_PASSWORD: 'tpw' });
    expect(back.from).toMatchObject({ host: '127.0.0.1', port: 7001, username: 'app', password: 'hunter2' });
    expect(back.to).toMatchObject({ kind: 'attach', endpoint: { port: 7002, password: 'tpw' } });
    expect(back.repoint).toEqual(spec.repoint);
    expect(back.pauseTimeoutMs).toBe(spec.pauseTimeoutMs);
  });

  it('refuses another version and garbage with one line', () => {
    const p = join(dir, 'c.json');
    writeFileSync(p, JSON.stringify({ version: 2 }));
    expect(() => loadState(p)).toThrow(/has version 2; this ferry reads version 1/);
    writeFileSync(p, '{nope');
    expect(() => loadState(p)).toThrow(/not valid JSON/);
  });

  it('is locked against a second live process, and a dead holder’s lock is taken over', () => {
    const p = join(dir, 'd.json');
    writeFileSync(`${p}.lock`, '1'); // pid 1 is alive (init)
    expect(() => lockState(p)).toThrow(/another ferry process \(pid 1\)/);
    writeFileSync(`${p}.lock`, '999999999'); // no such process
    const lock = lockState(p);
    expect(readFileSync(`${p}.lock`, 'utf8')).toBe(String(process.pid));
    lock.release();
    expect(() => statSync(`${p}.lock`)).toThrow();
  });
});

describe('the default state file name', () => {
  it('holds the start time and the pid: two runs started in the same second get one file each', async () => {
    const { defaultStatePath } = await import('../src/core/runner.js');
    const at = new Date('2026-12-01T12:19:05.123Z');
    expect(defaultStatePath(at, 4242)).toBe(join('.ferry', 'run-20261201T121905-4242.json'));
    expect(defaultStatePath(at, 4243)).not.toBe(defaultStatePath(at, 4242));
  });
});
