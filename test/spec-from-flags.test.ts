/** Flags → spec: defaults, env passwords, and one-line errors naming the flag. */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/core/errors.js';
import { specFromFlags } from '../src/core/spec-from-flags.js';

const base = { from: 'redis://127.0.0.1:7001', to: 'redis://127.0.0.1:7002' };

describe('specFromFlags', () => {
  it('applies the documented defaults', () => {
    const s = specFromFlags(base, {});
    expect(s).toMatchObject({ sync: 'engine', retire: 'replica', repoint: { kind: 'manual' }, pauseTimeoutMs: 10_000, flushTarget: false, serverArgs: [] });
    expect(s.to).toMatchObject({ kind: 'attach', endpoint: { host: '127.0.0.1', port: 7002 } });
  });

  it('reads passwords from the environment when the URL has none', () => {
    const s = specFromFlags({ ...base, to: 'start:7100' }, { FERRY_FROM_PASSWORD: 'a', FERRY_TO_PASSWORD: 'b' });
    expect(s.from.password).toBe('a');
    expect(s.to).toEqual({ kind: 'start', host: '127.0.0.1', port: 7100, password: 'b' });
    expect(specFromFlags({ ...base, from: 'redis://:url@127.0.0.1:1' }, { FERRY_FROM_PASSWORD: 'env' }).from.password).toBe('url');
  });

  it('parses repoint, retire, timeouts and server args', () => {
    const s = specFromFlags({ ...base, to: 'start', repoint: "exec:echo hi", retire: 'shutdown', pauseTimeout: '2500', hookTimeout: '900', serverArg: ['--appendonly yes', 'maxmemory 1gb'] }, {});
    expect(s.repoint).toEqual({ kind: 'exec', command: 'echo hi', timeoutMs: 900 });
    expect(s.retire).toBe('shutdown');
    expect(s.pauseTimeoutMs).toBe(2500);
    expect(s.serverArgs).toEqual(['appendonly yes', 'maxmemory 1gb']);
    expect(s.to).toMatchObject({ kind: 'start' });
    expect((s.to as { port?: number }).port).toBeUndefined();
  });

  it.each([
    [{ to: base.to }, /--from is required/],
    [{ from: base.from }, /--to is required/],
    [{ ...base, from: 'localhost:6379' }, /--from: unsupported scheme|is not a URL/],
    [{ ...base, to: 'start:0' }, /--to: "start:0" has no valid port/],
    [{ ...base, sync: 'rsync' }, /--sync: "rsync" is not one of native, engine/],
    [{ ...base, repoint: 'exec:' }, /--repoint exec: needs a command/],
    [{ ...base, repoint: 'dns' }, /--repoint: "dns" is not one of/],
    [{ ...base, pauseTimeout: '10s' }, /--pause-timeout: "10s" is not a whole number/],
    [{ ...base, serverArg: ['bad\nline'] }, /--server-arg/],
  ])('refuses %j', (flags, message) => {
    expect(() => specFromFlags(flags as never, {})).toThrow(UsageError);
    expect(() => specFromFlags(flags as never, {})).toThrow(message);
  });
});
