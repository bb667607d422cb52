/**
 * rediss:// end to end: certificates made with openssl (a CA and a server certificate for
 * 127.0.0.1), servers listening on a TLS port, and ferry talking TLS to both: `ferry sync` and
 * `ferry run` with the embedded engine (its own replication link and target connection), the old
 * master retired as a replica of the new one over TLS, and `ferry run --sync native` (the servers
 * replicate over TLS themselves, tls-replication yes). A certificate ferry cannot verify is a
 * one-line usage error (exit 2) that changes nothing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ferry, fill } from './helpers/cli.js';
import { freePort, startRedis, type TestServer } from './helpers/redis-server.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
const ca = join(dir, 'ca.crt');
const live: TestServer[] = [];

beforeAll(() => {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=ferry-test-ca');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
});
afterEach(async () => {
  await Promise.all(live.splice(0).map((s) => s.stop()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A server with a TLS port (the plain port stays, for the test's own checks); `tlsUrl` is rediss://. */
async function tlsServer(extra: string[] = []): Promise<TestServer & { tlsUrl: string }> {
  const tlsPort = await freePort();
  const s = await startRedis({
    args: ['--tls-port', String(tlsPort), '--tls-cert-file', join(dir, 'server.crt'), '--tls-key-file', join(dir, 'server.key'), '--tls-ca-cert-file', ca, '--tls-auth-clients', 'no', ...extra],
  });
  live.push(s);
  return Object.assign(s, { tlsUrl: `rediss://127.0.0.1:${tlsPort}` });
}

describe('TLS (rediss://)', () => {
  it('ferry sync copies everything over TLS on both sides', async () => {
    const debug = ['--enable-debug-command', 'yes'];
    const [source, target] = await Promise.all([tlsServer(debug), tlsServer(debug)]);
    await fill(source.client(), 500);
    const r = await ferry(['sync', '--from', source.tlsUrl, '--to', target.tlsUrl, '--tls-ca', ca, '--until-caught-up'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(await target.client().dbsize()).toBe(500);
    expect(await target.client().call('DEBUG', 'DIGEST')).toBe(await source.client().call('DEBUG', 'DIGEST'));
  });

  it('ferry run (engine) migrates over TLS and retires the old master as a TLS replica of the new one', async () => {
    const [source, target] = await Promise.all([tlsServer(['--tls-replication', 'yes']), tlsServer()]);
    await fill(source.client(), 300);
    const r = await ferry(['run', '--from', source.tlsUrl, '--to', target.tlsUrl, '--tls-ca', ca, '--repoint', 'none', '--yes', '--state', join(dir, 'run.json')], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/--retire replica over TLS/);
    expect(((await target.client().call('ROLE')) as string[])[0]).toBe('master');
    expect(await target.client().dbsize()).toBe(300);
    // The old master follows the new one over TLS: its link comes up.
    let link = '';
    for (let i = 0; i < 100 && link !== 'up'; i++) {
      link = /master_link_status:(\w+)/.exec(await source.client().info('replication'))?.[1] ?? '';
      if (link !== 'up') await new Promise((res) => setTimeout(res, 50));
    }
    expect(link).toBe('up');
  });

  it('ferry run --sync native: the target replicates over TLS (tls-replication on both servers)', async () => {
    const tlsRepl = ['--tls-replication', 'yes'];
    const [source, target] = await Promise.all([tlsServer(tlsRepl), tlsServer(tlsRepl)]);
    await fill(source.client(), 300);
    const r = await ferry(['run', '--sync', 'native', '--from', source.tlsUrl, '--to', target.tlsUrl, '--tls-ca', ca, '--repoint', 'none', '--yes', '--state', join(dir, 'native.json')], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(((await target.client().call('ROLE')) as string[])[0]).toBe('master');
    expect(await target.client().dbsize()).toBe(300);
  });

  it('warns when the retired old master could not follow over TLS (no tls-replication)', async () => {
    const [source, target] = await Promise.all([tlsServer(), tlsServer()]);
    const r = await ferry(['plan', '--from', source.tlsUrl, '--to', target.tlsUrl, '--tls-ca', ca], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/--retire replica over TLS: the old master can follow the new one only with tls-replication yes/);
  });

  it('a certificate ferry cannot verify: exit 2, one line naming the fix, nothing changed', async () => {
    const [source, target] = await Promise.all([tlsServer(), tlsServer()]);
    await fill(source.client(), 10);
    const r = await ferry(['sync', '--from', source.tlsUrl, '--to', target.tlsUrl, '--until-caught-up'], { cwd: dir });
    expect(r.code).toBe(2);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('ferry:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/certificate.*--from/);
    expect(await target.client().dbsize()).toBe(0);
    expect(((await source.client().call('ROLE')) as string[])[0]).toBe('master');
  });
});
