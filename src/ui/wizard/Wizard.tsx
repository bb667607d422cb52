/**
 * `ferry` with no arguments in a terminal: asks for the source (tested live), the target, the
 * sync mode, how clients are repointed and what happens to the old master; shows the plan; runs
 * it with a live step list. Everything finished goes to <Static> (answers, the plan, done steps);
 * only the current question or step is redrawn. The answers become the same flags `ferry run`
 * takes, built into a MigrationSpec by the same builder, and run by the same runner.
 */
import { Box, Static, Text, useApp, useInput } from 'ink';
import { useEffect, useRef, useState } from 'react';
import { EventBus, type FerryEvent } from '../../core/events.js';
import { exitCodeOf, ExitCode, FerryError, InterruptedError, SafetyError } from '../../core/errors.js';
import { redact } from '../../core/redact.js';
import { DEFAULTS, type MigrationSpec } from '../../core/spec.js';
import { formatBytes, formatCount, formatMs } from '../format.js';
import { REPOINT_CHOICES, RETIRE_CHOICES, SENTINEL_REPOINT_CHOICES, SYNC_CHOICES, TARGET_CHOICES } from './choices.js';
import { InputRoute, SelectList, TextField, YesNo } from './inputs.js';
import { RunView, type PendingQuestion } from './RunView.js';
import type { ServerSummary, WizardDeps } from './types.js';

type Stage =
  | 'source'
  | 'target-kind'
  | 'target-url'
  | 'target-port'
  | 'target-dir'
  | 'sync'
  | 'repoint'
  | 'hook'
  | 'retire'
  | 'planning'
  | 'confirm'
  | 'running'
  | 'finished';

interface Answers {
  from?: string;
  to?: string;
  dataDir?: string;
  sync?: string;
  repoint?: string;
  retire?: string;
}

/** A permanent line of output (rendered once, in order, by <Static>). */
interface Line {
  id: number;
  text: string;
  color?: string;
  dim?: boolean;
}

type ProgressEvent = Extract<FerryEvent, { event: 'progress' }>;

/**
 * After the operator asked to leave (the second Ctrl-C), how long the run may take to stop cleanly
 * (unpause the source, save the state) before the wizard leaves anyway.
 */
export const LEAVE_GRACE_MS = 3000;

/** Summary of a probed server, as shown after the question. */
export function describeServer(s: ServerSummary): string {
  return `${s.via ? `${s.via} · ` : ''}Redis ${s.version} · ${s.role} · ${formatCount(s.keys)} keys · ${formatBytes(s.usedMemory)} used · ${formatCount(s.connectedClients)} connected clients`;
}

/** The wizard; `onExit(code)` is called once, when it is over. */
export function Wizard(props: { deps: WizardDeps; onExit(code: number): void }) {
  const { deps } = props;
  const { exit } = useApp();
  const [stage, setStage] = useState<Stage>('source');
  const [answers, setAnswers] = useState<Answers>({});
  const [lines, setLines] = useState<Line[]>([]);
  const [busy, setBusy] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [askAbort, setAskAbort] = useState(false);
  const [current, setCurrent] = useState<{ step: string; title: string } | undefined>();
  const [progress, setProgress] = useState<ProgressEvent[]>([]);
  const [pending, setPending] = useState<PendingQuestion | undefined>();
  const [exitCode, setExitCode] = useState<number | undefined>();
  const spec = useRef<MigrationSpec | undefined>(undefined);
  const abort = useRef(new AbortController());
  const nextId = useRef(0);
  // NOTE: refs, not state: the Ctrl-C handler and the run's events must see them at once.
  /** A step that may change a server has started (anything after the read-only preflight). */
  const changed = useRef(false);
  /** Set once the wizard is over: late answers of a probe or the plan are then ignored. */
  const over = useRef(false);
  /** The run has been started (set before the first render shows it). */
  const running = useRef(false);
  /** The abort question is on screen. */
  const asking = useRef(false);
  /** The question a step asked, if one is waiting (answered "no" on abort). */
  const waiting = useRef<PendingQuestion | undefined>(undefined);
  /** The operator asked to leave (Ctrl-C twice); the wizard waits LEAVE_GRACE_MS at most. */
  const leaving = useRef(false);
  const leaveTimer = useRef<NodeJS.Timeout | undefined>(undefined);
  /** The run's state file and whether promotion started: what the goodbye lines name. */
  const runInfo = useRef<{ statePath?: string; promoted: boolean; quiet: boolean }>({ promoted: false, quiet: false });

  const say = (text: string, style: Omit<Line, 'id' | 'text'> = {}) => {
    if (!over.current) setLines((ls) => [...ls, { id: nextId.current++, text, ...style }]);
  };
  const ask = (yes: boolean) => {
    asking.current = yes;
    setAskAbort(yes);
  };
  const finish = (code: number) => {
    if (over.current) return;
    over.current = true;
    clearTimeout(leaveTimer.current);
    ask(false);
    setStage('finished');
    setExitCode(code);
  };
  const goTo = (next: Stage) => {
    if (!over.current) setStage(next);
  };

  // Exit after the last lines reached <Static>.
  useEffect(() => {
    if (exitCode === undefined) return;
    const t = setTimeout(() => {
      props.onExit(exitCode);
      exit();
    }, 50);
    return () => clearTimeout(t);
  }, [exitCode]);

  // One subscription for the whole wizard: Ctrl-C, then the active widget (see InputRoute).
  const route = useRef<{ current?: Parameters<typeof useInput>[0] }>({}).current;
  route.current = undefined; // the active widget sets it again while this render runs
  useInput((input, key) => {
    if (key.ctrl && input === 'c') return onCtrlC();
    route.current?.(input, key);
  });

  /**
   * Ctrl-C. Nothing changed yet (a question, the plan, the read-only preflight): leave at once.
   * Once a step that changes servers has started: ask; a second Ctrl-C leaves (after the run
   * stopped cleanly, or LEAVE_GRACE_MS at most); a third leaves without waiting.
   */
  function onCtrlC() {
    if (over.current) return;
    if (!changed.current) {
      if (runInfo.current.quiet) return; // already leaving
      say('Aborted: nothing was changed.', { color: 'yellow' });
      if (!running.current) return finish(ExitCode.interrupted);
      // The read-only preflight is running: stop it; startRun finishes (the runner removes its
      // state file), or the grace period ends.
      runInfo.current.quiet = true;
      stopRun();
      leaveTimer.current = setTimeout(() => finish(ExitCode.interrupted), LEAVE_GRACE_MS);
      return;
    }
    if (leaving.current) return leaveNow();
    if (!asking.current && !abort.current.signal.aborted) return ask(true);
    leaving.current = true;
    ask(false);
    if (!abort.current.signal.aborted) say('Leaving: ferry stops the run, unpauses the source if it paused it and saves the state…', { color: 'yellow' });
    stopRun();
    leaveTimer.current = setTimeout(leaveNow, LEAVE_GRACE_MS);
  }

  /** Aborts the runner through its signal (it unpauses the source and saves the state). */
  function stopRun() {
    if (!abort.current.signal.aborted) abort.current.abort(new InterruptedError('aborted by the operator (Ctrl-C)'));
    waiting.current?.answer(false);
  }

  /** Leaves while the run may still be stopping: says where things stand and how to go on. */
  function leaveNow() {
    if (over.current) return;
    say('');
    say('✗ left before the run had stopped: its state file may still show a step as running.', { color: 'red' });
    sayHowToGoOn();
    say('  A write pause ferry set on the old master ends by itself after --pause-timeout.', { color: 'yellow' });
    finish(ExitCode.interrupted);
  }

  /** The commands that continue or undo an interrupted run (rollback only before promotion). */
  function sayHowToGoOn(resume?: string) {
    const path = runInfo.current.statePath;
    const cont = resume ?? (path ? `ferry resume --state ${path}` : undefined);
    if (cont) say(`  To continue: ${cont}`, { color: 'yellow' });
    if (!path) return;
    say(`  Where it stands: ferry status --state ${path}`, { color: 'yellow' });
    // NOTE: the rule of `ferry status`: rollback is sure to apply while promote has not started.
    if (!runInfo.current.promoted) say(`  To undo: ferry rollback --state ${path} (the old master was not changed before promotion)`, { color: 'yellow' });
    else say('  Promotion had started, so rollback may refuse: after a promotion, go back by migrating in the other direction.', { color: 'yellow' });
  }

  function onAbortAnswer(yes: boolean) {
    ask(false);
    if (!yes) return;
    say('Aborting: ferry unpauses the source if it paused it and saves the state…', { color: 'yellow' });
    stopRun();
  }

  /** Tests a URL answer live; on success records it and moves on, else shows why and asks again. */
  async function probeAnswer(url: string, which: '--from' | '--to', next: Stage) {
    const key = which === '--from' ? 'from' : 'to';
    if (!url) return setError(`the ${key === 'from' ? 'source' : 'target'} URL is required, e.g. redis://127.0.0.1:${key === 'from' ? 6379 : 6380}`);
    setError(undefined);
    setBusy(`Connecting to ${redact(url)}…`);
    try {
      const s = await deps.probe(url, which);
      say(key === 'from' ? `Source  ${redact(url)}` : `Target  ${redact(url)} (attach)`, { color: 'green' });
      say(`        ${describeServer(s)}`, { dim: true });
      setAnswers((a) => ({ ...a, [key]: url }));
      goTo(next);
    } catch (err) {
      if (!over.current) setError(messageOf(err));
    } finally {
      setBusy(undefined);
    }
  }

  const [suggestedPort, setSuggestedPort] = useState<number | undefined>();
  useEffect(() => {
    if (stage === 'target-port' && suggestedPort === undefined) void deps.freePort().then(setSuggestedPort, () => setSuggestedPort(6380));
  }, [stage]);

  function onPort(text: string) {
    if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 65535) return setError(`"${text}" is not a port (1-65535)`);
    setError(undefined);
    setAnswers((a) => ({ ...a, to: `start:${text}` }));
    setStage('target-dir');
  }

  function onDataDir(dir: string) {
    say(`Target  new local redis-server on port ${answers.to?.slice(6)}${dir ? `, data in ${dir}` : ''}`, { color: 'green' });
    setAnswers((a) => ({ ...a, dataDir: dir || undefined }));
    setStage('sync');
  }

  function pick<K extends keyof Answers>(key: K, value: string, label: string, next: Stage) {
    say(`${label.padEnd(8)}${value}`, { color: 'green' });
    setAnswers((a) => ({ ...a, [key]: value }));
    setStage(next);
  }

  // Once every question is answered: build the spec (the flags' builder) and the plan.
  useEffect(() => {
    if (stage !== 'planning') return;
    void (async () => {
      try {
        const built = deps.buildSpec({
          from: answers.from ?? '',
          to: answers.to ?? '',
          dataDir: answers.dataDir,
          sync: answers.sync,
          repoint: answers.repoint,
          retire: answers.retire,
        });
        spec.current = built;
        setBusy('Running preflight checks and building the plan…');
        const { text, refusal } = await deps.plan(built);
        if (over.current) return; // Ctrl-C while the plan was being built
        say('');
        for (const l of text.replace(/\n$/, '').split('\n')) say(l);
        say('');
        if (refusal) throw new SafetyError(refusal);
        setStage('confirm');
      } catch (err) {
        say(`✗ ${messageOf(err)}`, { color: 'red' });
        finish(exitCodeOf(err));
      } finally {
        setBusy(undefined);
      }
    })();
  }, [stage]);

  function onConfirm(yes: boolean) {
    if (!yes) {
      say('Not started: nothing was changed.', { color: 'yellow' });
      return finish(ExitCode.ok);
    }
    running.current = true;
    setStage('running');
    void startRun();
  }

  async function startRun() {
    const bus = new EventBus();
    let failed: Extract<FerryEvent, { event: 'failed' }> | undefined;
    bus.add((e) => {
      if (e.event === 'step.start' && e.step !== 'preflight') changed.current = true;
      if (e.event === 'step.start' && e.step === 'promote') runInfo.current.promoted = true;
      if (e.event === 'info' && /^state file: /.test(e.message)) runInfo.current.statePath = e.message.slice('state file: '.length);
      if (e.event === 'step.start') {
        setCurrent({ step: e.step, title: e.title });
        setProgress([]);
      } else if (e.event === 'progress') {
        setProgress((ps) => [...ps.filter((p) => p.phase !== e.phase), e]);
      } else if (e.event === 'step.done') {
        say(`✔ ${e.step.padEnd(12)} ${e.skipped ? 'already done' : formatMs(e.ms)}`, { color: 'green' });
        setCurrent(undefined);
        setProgress([]);
      } else if (e.event === 'step.failed') {
        say(`✗ ${e.step.padEnd(12)} ${e.error}`, { color: 'red' });
      } else if (e.event === 'warning') {
        say(`! ${e.message}`, { color: 'yellow' });
      } else if (e.event === 'info') {
        say(`  ${e.message}`, { dim: true });
      } else if (e.event === 'failed') {
        failed = e;
      } else if (e.event === 'done') {
        say('');
        say(`Migration complete.${summariseReport(e.report)}`, { color: 'green' });
      }
    });
    const confirm = (question: string) =>
      new Promise<boolean>((resolve) => {
        if (abort.current.signal.aborted) return resolve(false); // stopping: nothing more to ask
        const q: PendingQuestion = {
          question,
          answer: (yes) => {
            if (waiting.current === q) waiting.current = undefined;
            setPending(undefined);
            resolve(yes);
          },
        };
        waiting.current = q;
        setPending(q);
      });
    try {
      await deps.run(spec.current as MigrationSpec, { bus, signal: abort.current.signal, confirm });
      finish(ExitCode.ok);
    } catch (err) {
      const code = abort.current.signal.aborted ? ExitCode.interrupted : exitCodeOf(err);
      if (runInfo.current.quiet) return finish(code); // left before anything changed: said so already
      say('');
      say(`✗ ${failed?.error ?? messageOf(err)}`, { color: 'red' });
      if (typeof failed?.report?.statePath === 'string') runInfo.current.statePath = failed.report.statePath;
      const resume = failed?.resume ?? (err instanceof FerryError ? err.hint : undefined);
      if (failed?.resume) sayHowToGoOn(failed.resume);
      else if (resume) say(`  To continue: ${resume}`, { color: 'yellow' });
      finish(code);
    } finally {
      setCurrent(undefined);
      setPending(undefined);
    }
  }

  const active = !askAbort && !busy;
  return (
    <InputRoute.Provider value={route}>
      <Box flexDirection="column">
        <Static items={lines}>
          {(l) => (
            <Text key={l.id} color={l.color} dimColor={l.dim}>
              {l.text}
            </Text>
          )}
        </Static>
        {stage === 'source' && lines.length === 0 ? (
          <Text>
            <Text bold color="cyan">ferry</Text> moves a live Redis to a new instance with no downtime and no lost writes.
          </Text>
        ) : null}
        {stage === 'source' ? (
          <TextField label="Source (the old master) URL:" defaultValue="redis://127.0.0.1:6379" hint="redis://[user:pass@]host:port[/db] or sentinel://host:port[,host:port…]/MASTER-NAME · a password may also come from FERRY_FROM_PASSWORD" active={active} onSubmit={(url) => probeAnswer(url, '--from', 'target-kind')} />
        ) : null}
        {stage === 'target-kind' ? (
          <SelectList
            label="Target (the new instance):"
            active={active}
            choices={TARGET_CHOICES}
            onSubmit={(v) => setStage(v === 'start' ? 'target-port' : 'target-url')}
          />
        ) : null}
        {stage === 'target-url' ? <TextField label="Target URL:" hint="an empty server: redis://host:port or rediss://… for TLS" active={active} onSubmit={(url) => probeAnswer(url, '--to', 'sync')} /> : null}
        {stage === 'target-port' && suggestedPort !== undefined ? (
          <TextField label="Port for the new server:" defaultValue={String(suggestedPort)} active={active} onSubmit={onPort} />
        ) : null}
        {stage === 'target-dir' ? <TextField label="Data dir for the new server:" defaultValue="" hint={`Enter for ferry's default (./.ferry/${answers.to?.slice(6)})`} active={active} onSubmit={onDataDir} /> : null}
        {stage === 'sync' ? (
          <SelectList
            label="How should the data be replicated?"
            active={active}
            choices={SYNC_CHOICES}
            initial={DEFAULTS.sync}
            onSubmit={(v) => pick('sync', v, 'Sync', 'repoint')}
          />
        ) : null}
        {stage === 'repoint' ? (
          <SelectList
            label="How do your applications move to the new server?"
            active={active}
            choices={/^sentinel:/i.test(answers.from ?? '') ? SENTINEL_REPOINT_CHOICES : REPOINT_CHOICES}
            onSubmit={(v) => (v === 'exec' ? setStage('hook') : pick('repoint', v, 'Repoint', 'retire'))}
          />
        ) : null}
        {stage === 'hook' ? (
          <TextField label="Hook command:" hint="e.g. ./repoint.sh — a non-zero exit fails the step" active={active} onSubmit={(cmd) => (cmd ? pick('repoint', `exec:${cmd}`, 'Repoint', 'retire') : setError('the hook command is required'))} />
        ) : null}
        {stage === 'retire' ? (
          <SelectList
            label="Afterwards, the old master should:"
            active={active}
            choices={RETIRE_CHOICES}
            onSubmit={(v) => pick('retire', v, 'Retire', 'planning')}
          />
        ) : null}
        {stage === 'confirm' ? <YesNo question="Run this migration now?" active={active} onAnswer={onConfirm} /> : null}
        {stage === 'running' ? <RunView current={current} progress={progress} pending={pending} active={!askAbort} /> : null}
        {busy ? <Text color="cyan">… {busy}</Text> : null}
        {error ? <Text color="red">✗ {error}</Text> : null}
        {askAbort ? (
          <YesNo
            question="Abort the migration? The source is unpaused and the state saved. (Ctrl-C again leaves)"
            onAnswer={onAbortAnswer}
          />
        ) : null}
      </Box>
    </InputRoute.Provider>
  );
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The figures worth a line: the write pause, the final offset, where the state is. */
function summariseReport(report: Record<string, unknown>): string {
  const parts: string[] = [];
  if (typeof report.pauseMs === 'number') parts.push(`writes paused ${formatMs(report.pauseMs)}`);
  if (typeof report.finalOffset === 'number') parts.push(`final offset ${formatCount(report.finalOffset)}`);
  const target = report.target as { host?: string; port?: number } | undefined;
  if (target?.host) parts.push(`new master ${target.host}:${target.port}`);
  if (typeof report.statePath === 'string') parts.push(`state in ${report.statePath}`);
  return parts.length ? ` ${parts.join(' · ')}` : '';
}
