import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specFromFlags } from '../src/core/spec-from-flags.js';
import { loadPlaybook } from '../src/playbook/load.js';
import { freePort, startRedis, type TestServer } from './helpers/redis-server.js';
import { ferry } from './helpers/cli.js';

const book = (name: string) => join(import.meta.dirname, '..', 'playbooks', name);

describe('ferry plan|run --playbook against real servers', () => {
  let a: TestServer;
  let b: TestServer;
  let tmp: string;
  beforeAll(async () => {
    [a, b] = await Promise.all([startRedis(), startRedis()]);
    tmp = mkdtempSync(join(tmpdir(), 'ferry-playbook-test-'));
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    rmSync(tmp, { recursive: true, force: true });
  });
  const smokeEnv = () => ({ FERRY_SOURCE_URL: a.url, FERRY_TARGET_URL: b.url });

  it('ci-smoke: plan prints the numbered steps with the server each touches', async () => {
    const r = await ferry(['plan', '--playbook', book('ci-smoke.yaml')], { env: { ...smokeEnv(), NO_COLOR: '1' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Plan  redis://127.0.0.1:${a.port} → redis://127.0.0.1:${b.port}  (sync: native)`);
    expect(r.stdout).toMatch(/^ 4 {2}replicate +Start replicating/m);
    expect(r.stdout).toMatch(new RegExp(`^ +target +REPLICAOF 127\\.0\\.0\\.1 ${a.port}$`, 'm'));
    expect(r.stdout).toMatch(/^13 {2}retire/m);
    expect(r.stdout).not.toMatch(/\u001b\[/); // NO_COLOR
  });

  it('flags override the playbook, and a missing variable is a usage error naming it', async () => {
    const r = await ferry(['plan', '--playbook', book('ci-smoke.yaml'), '--retire', 'keep', '--pause-timeout', '1234', '--json'], { env: smokeEnv() });
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.findings.warnings.join('\n')).toMatch(/--retire keep/);
    const fence = plan.steps.find((s: { id: string }) => s.id === 'fence');
    expect(fence.commands[0].command).toBe('CLIENT PAUSE 1234 WRITE');
    const missing = await ferry(['plan', '--playbook', book('ci-smoke.yaml')], { env: { FERRY_SOURCE_URL: a.url, FERRY_TARGET_URL: '' } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/ci-smoke\.yaml line \d+: "to" uses \$\{FERRY_TARGET_URL\} but environment variable FERRY_TARGET_URL is empty/);
  });

  it('an invalid playbook exits 2 naming the field and the line', async () => {
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, 'version: 1\nfrom: redis://127.0.0.1:1\nto: start\nsync: fast\n');
    const r = await ferry(['run', '--playbook', bad, '--yes'], {});
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`ferry: playbook ${bad} line 4: "sync" must be engine or native (got "fast")`);
  });

  it('same-host-upgrade: plan starts a new local instance with native sync', async () => {
    const port = await freePort();
    const r = await ferry(['plan', '--playbook', book('same-host-upgrade.yaml'), '--json'], {
      env: { OLD_PORT: String(a.port), NEW_PORT: String(port), FERRY_DATA_DIR: join(tmp, 'new') },
    });
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.sync).toBe('native');
    expect(plan.target).toBe(`start redis-server on 127.0.0.1:${port}`);
    const provision = plan.steps.find((s: { id: string }) => s.id === 'provision');
    expect(JSON.stringify(provision.commands)).toContain('appendonly yes');
  });

  it('to-managed: builds an engine spec into a TLS target; plans against a server with --sync native', async () => {
    const env = { MANAGED_URL: 'rediss://default:s3cret@127.0.0.1:6390', REPOINT_HOOK: './point-apps.sh', SOURCE_PORT: String(a.port) };
    const spec = specFromFlags(loadPlaybook(book('to-managed.yaml'), env).flags, {});
    expect(spec.sync).toBe('engine');
    expect(spec.to).toMatchObject({ kind: 'attach', endpoint: { tls: true, port: 6390, password: 's3cret' } });
    expect(spec.repoint).toEqual({ kind: 'exec', command: './point-apps.sh', timeoutMs: 600_000 });
    expect(spec.retire).toBe('keep');
    const r = await ferry(['plan', '--playbook', book('to-managed.yaml'), '--sync', 'native', '--json'], {
      env: { ...env, MANAGED_URL: b.url },
    });
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.target).toBe(`redis://127.0.0.1:${b.port}`);
    const repoint = plan.steps.find((s: { id: string }) => s.id === 'repoint');
    expect(repoint.commands[0].command).toContain('./point-apps.sh');
  });

  it('ci-smoke: run --yes --json migrates the data and emits throttled progress', async () => {
    const ca = a.client();
    await ca.mset('k1', 'v1', 'k2', 'v2');
    const r = await ferry(['run', '--playbook', book('ci-smoke.yaml'), '--yes', '--json', '--state', join(tmp, 'state.json')], { env: smokeEnv() });
    expect(r.code).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.at(-1).event).toBe('done');
    const cb = b.client();
    expect(await cb.mget('k1', 'k2')).toEqual(['v1', 'v2']);
    // --json: progress at most once per second per step and phase
    const seen = new Map<string, number>();
    for (const e of events.filter((x) => x.event === 'progress')) {
      const key = `${e.step}/${e.phase}`;
      const t = Date.parse(e.ts);
      const prev = seen.get(key);
      const final = e.total !== undefined && e.done >= e.total;
      if (prev !== undefined && !final) expect(t - prev).toBeGreaterThanOrEqual(990);
      seen.set(key, t);
    }
  });
});
