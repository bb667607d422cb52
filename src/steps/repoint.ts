/**
 * repoint: moves the clients to the new instance (a hook, the operator, or nobody), then drains:
 * waits until the old master has no normal clients but ferry's own, bounded by --drain-timeout.
 * Who is still connected when the time is up is reported (address, name, library, age, last
 * command) so an operator can find them; the fence and the retire policy deal with them.
 */
import type { Redis } from 'ioredis';
import { execa } from 'execa';
import { isFerryClientName } from '../core/connect.js';
import { plannedSourceMasters } from '../core/source-nodes.js';
import { StepError } from '../core/errors.js';
import { cmd, sleep, type Step, type StepContext } from './step.js';

export const repoint: Step = {
  id: 'repoint',
  title: 'Repoint clients to the new instance',
  describe(pc) {
    const r = pc.spec.repoint;
    const env = `FERRY_NEW_HOST=${pc.target.host} FERRY_NEW_PORT=${pc.target.port || '<port>'} FERRY_OLD_HOST=${pc.spec.from.host} FERRY_OLD_PORT=${pc.spec.from.port}`;
    const first =
      r.kind === 'exec'
        ? [cmd('local', ['sh', '-c', JSON.stringify(r.command)], `with ${env}; must exit 0 within ${r.timeoutMs} ms`)]
        : r.kind === 'manual'
          ? [cmd('local', ['(you)', 'repoint the clients'], 'ferry waits for your confirmation (--yes: it only drains)')]
          : [];
    const masters = plannedSourceMasters(pc.spec.from, pc.facts);
    if (r.kind === 'none') return masters.map((m) => cmd(m.on, ['CLIENT', 'LIST', 'TYPE', 'normal'], pc.spec.from.sentinel ? 'report only: clients move when Sentinel names the new master (step sentinel)' : 'report only: --repoint none'));
    return [...first, ...masters.map((m) => cmd(m.on, ['CLIENT', 'LIST', 'TYPE', 'normal'], `repeat until only ferry's connections remain (at most ${pc.spec.drainTimeoutMs} ms)`))];
  },
  async check() {
    return false; // a hook is not observable: it runs again if ferry stopped while it ran
  },
  async run(ctx, progress) {
    const r = ctx.spec.repoint;
    if (r.kind === 'exec') await runHook(ctx, r.command, r.timeoutMs);
    // Every source master is watched (a cluster source's clients are connected to each).
    const source = async (): Promise<ClientInfo[]> => (await Promise.all((await ctx.sourceMasters()).map((m) => appClients(m.client)))).flat();
    if (r.kind === 'manual' && !ctx.yes) {
      // NOTE: while the operator works, report who is still connected (the wizard shows it live).
      const watch = watchClients(source, progress);
      try {
        const ok = await ctx.confirm(`Repoint your clients to ${ctx.target.host}:${ctx.target.port} now; continue when done?`);
        if (!ok) throw new StepError('repoint', 'the clients were not repointed; resume when they are');
      } finally {
        watch.stop();
      }
    }
    if (r.kind === 'none') {
      const clients = await source();
      if (clients.length && ctx.spec.from.sentinel) ctx.info(`${clients.length} client(s) on the old master move when Sentinel names the new master (step sentinel)`);
      else if (clients.length) ctx.warn(`--repoint none: ${clients.length} client(s) still use the old master: ${describeClients(clients)}`);
      return { remainingClients: clients.length };
    }
    return drain(ctx, source, progress);
  },
};

async function runHook(ctx: StepContext, command: string, timeoutMs: number): Promise<void> {
  const env = {
    FERRY_NEW_HOST: ctx.target.host,
    FERRY_NEW_PORT: String(ctx.target.port),
    FERRY_OLD_HOST: ctx.spec.from.host,
    FERRY_OLD_PORT: String(ctx.spec.from.port),
  };
  ctx.info(`running the repoint hook: ${command}`);
  // NOTE: the hook runs in its own process group, and a timeout or an interrupt kills the whole
  // group: killing only the shell would leave its children holding the output pipes open.
  const sub = execa(command, { shell: true, env, reject: false, all: true, stdin: 'ignore', detached: true });
  let timedOut = false;
  const killGroup = () => {
    try {
      if (sub.pid) process.kill(-sub.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutMs);
  ctx.signal.addEventListener('abort', killGroup, { once: true });
  const res = await sub.finally(() => {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', killGroup);
  });
  if (ctx.signal.aborted) throw ctx.signal.reason;
  if (timedOut) throw new StepError('repoint', `the repoint hook did not finish within ${timeoutMs} ms; fix it or raise --hook-timeout, then resume`);
  if (res.exitCode !== 0) {
    const tail = String(res.all ?? '').trim().split('\n').pop() ?? '';
    throw new StepError('repoint', `the repoint hook exited with ${res.exitCode ?? res.signal}${tail ? ` (${tail})` : ''}; fix it, then resume`);
  }
}

/** Polls CLIENT LIST every 500 ms and reports the application clients still on the old master. */
function watchClients(source: () => Promise<ClientInfo[]>, progress: Parameters<Step['run']>[1]): { stop(): void } {
  let initial: number | undefined;
  let stopped = false;
  const poll = async () => {
    const clients = await source().catch(() => undefined);
    if (stopped || !clients) return;
    initial = Math.max(initial ?? 0, clients.length);
    progress({ phase: 'drain', done: initial - clients.length, total: initial, unit: 'clients', detail: { clients: clients.slice(0, 5) } });
  };
  void poll();
  const timer = setInterval(() => void poll(), 500);
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** A client of the old master as CLIENT LIST reports it. */
interface ClientInfo {
  id: string;
  addr: string;
  name: string;
  lib: string;
  age: string;
  cmd: string;
}

async function appClients(source: Redis): Promise<ClientInfo[]> {
  const text = (await source.call('CLIENT', 'LIST', 'TYPE', 'normal')) as string;
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => Object.fromEntries(line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])))
    .filter((c) => !isFerryClientName(c.name ?? ''))
    .map((c) => ({ id: c.id, addr: c.addr, name: c.name, lib: [c['lib-name'], c['lib-ver']].filter(Boolean).join(' '), age: c.age, cmd: c.cmd }));
}

function describeClients(cs: ClientInfo[]): string {
  const shown = cs.slice(0, 5).map((c) => `${c.addr}${c.name ? ` name=${c.name}` : ''}${c.lib ? ` lib=${c.lib}` : ''} age=${c.age}s last=${c.cmd}`);
  return shown.join('; ') + (cs.length > 5 ? `; and ${cs.length - 5} more` : '');
}

async function drain(ctx: StepContext, source: () => Promise<ClientInfo[]>, progress: Parameters<Step['run']>[1]): Promise<Record<string, unknown>> {
  const deadline = Date.now() + ctx.spec.drainTimeoutMs;
  const started = Date.now();
  let clients = await source();
  const initial = clients.length;
  while (clients.length > 0 && Date.now() < deadline) {
    progress({ phase: 'drain', done: initial - clients.length, total: initial, unit: 'clients' });
    await sleep(100, ctx.signal);
    clients = await source();
  }
  if (clients.length > 0) {
    ctx.warn(`${clients.length} client(s) still on the old master after ${ctx.spec.drainTimeoutMs} ms: ${describeClients(clients)}; the fence pauses their writes, --retire replica makes them fail loudly`);
  }
  return { drainMs: Date.now() - started, remainingClients: clients.length, stragglers: clients.slice(0, 20) };
}
