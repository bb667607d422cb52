/**
 * provision: `--to start` launches redis-server detached (config, data, log, pid file under the
 * data dir) and records its pid; `--to URL` only checks that the target answers.
 */
import { StepError } from '../core/errors.js';
import { answersPing, defaultDataDir, isAlive, serverConfig, startServer } from '../core/provision-server.js';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cmd, type Step, type StepContext } from './step.js';

export const provision: Step = {
  id: 'provision',
  title: 'Provision the new instance',
  describe(pc) {
    if (pc.spec.to.kind === 'attach') return [cmd('target', ['PING'])];
    const port = pc.target.port || '<free port>';
    const dataDir = pc.spec.dataDir ?? defaultDataDir(pc.target.port || 0);
    const config = serverConfig({ host: pc.target.host, port: pc.target.port, dataDir, password: pc.target.password, serverArgs: pc.spec.serverArgs }, false);
    return [
      cmd('local', ['write', `${dataDir}/redis.conf`], config.trim().split('\n').join('; ')),
      cmd('local', ['redis-server', `${dataDir}/redis.conf`], `detached; listens on ${pc.target.host}:${port}`),
      cmd('target', ['PING'], 'until it answers (10 s)'),
    ];
  },
  async check(ctx) {
    if (ctx.spec.to.kind === 'attach') return targetAnswers(ctx);
    if (!adoptStartedServer(ctx)) return false;
    return answersPing(ctx.target.host, ctx.target.port, ctx.target.password);
  },
  async run(ctx) {
    if (ctx.spec.to.kind === 'attach') {
      if (!(await targetAnswers(ctx))) throw new StepError('provision', 'the target does not answer PING');
      return;
    }
    const dataDir = ctx.spec.dataDir ?? defaultDataDir(ctx.target.port);
    const started = await startServer({ host: ctx.target.host, port: ctx.target.port, dataDir, password: ctx.target.password, serverArgs: ctx.spec.serverArgs });
    ctx.state.target = { ...(ctx.state.target ?? { host: ctx.target.host, port: ctx.target.port }), started: true, pid: started.pid, dataDir: started.dataDir };
    await ctx.save();
    ctx.info(`started redis-server pid ${started.pid} on ${ctx.target.host}:${ctx.target.port} (data, config and log in ${started.dataDir})`);
    return { pid: started.pid, dataDir: started.dataDir };
  },
};

/** An attached target answers PING (through the run's connection: TLS, ACL user and password as given). */
async function targetAnswers(ctx: StepContext): Promise<boolean> {
  try {
    return (await (await ctx.targetClient()).ping()) === 'PONG';
  } catch {
    return false;
  }
}

/**
 * True when the server ferry started is alive. If ferry died between starting it and saving its
 * pid, the pid file in the data dir identifies it, so resume adopts it instead of starting another.
 */
function adoptStartedServer(ctx: StepContext): boolean {
  const t = ctx.state.target;
  if (t?.pid) return isAlive(t.pid);
  const dataDir = resolve(ctx.spec.dataDir ?? defaultDataDir(ctx.target.port));
  const pid = Number(readPidFile(join(dataDir, 'redis.pid')));
  if (!pid || !isAlive(pid)) return false;
  ctx.state.target = { host: ctx.target.host, port: ctx.target.port, started: true, pid, dataDir };
  return true;
}

function readPidFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}
