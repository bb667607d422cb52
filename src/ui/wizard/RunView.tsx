/**
 * The live part of a run: the current step with its progress below the finished ones (those go
 * to <Static> in the Wizard), and the operator's panel when a step asks a question (manual repoint:
 * the live number of clients still connected to the old master).
 */
import { Box, Text } from 'ink';
import type { FerryEvent } from '../../core/events.js';
import { describeProgress } from '../progress-sink.js';
import { YesNo } from './inputs.js';

type ProgressEvent = Extract<FerryEvent, { event: 'progress' }>;

/** A question a step asked through `confirm`, waiting for the operator. */
export interface PendingQuestion {
  question: string;
  answer(yes: boolean): void;
}

/** Clients listed by the drain's progress detail (CLIENT LIST fields). */
interface ClientInfo {
  addr?: string;
  name?: string;
  lib?: string;
  cmd?: string;
  age?: string;
}

/** Shows the running step, its progress, and a pending question. */
export function RunView(props: {
  current?: { step: string; title: string };
  progress: ProgressEvent[];
  pending?: PendingQuestion;
  active: boolean;
}) {
  const drain = props.progress.find((p) => p.phase === 'drain' || p.phase === 'clients');
  const clients = (drain?.detail?.clients as ClientInfo[] | undefined) ?? [];
  const left = drain ? (drain.total ?? 0) - (drain.done ?? 0) : 0;
  return (
    <Box flexDirection="column">
      {props.current ? (
        <Text color="cyan">
          ▶ {props.current.title} <Text dimColor>({props.current.step})</Text>
        </Text>
      ) : null}
      {props.progress.filter((p) => !(props.pending && p === drain)).map((p) => (
        <Text key={p.phase}>    {describeProgress(p)}</Text>
      ))}
      {props.pending ? (
        <Box flexDirection="column" marginTop={1} borderStyle="round" paddingX={1}>
          {drain ? (
            <Text>
              Clients still connected to the old master: <Text bold color={left ? 'yellow' : 'green'}>{left}</Text>
            </Text>
          ) : null}
          {clients.slice(0, 5).map((c, i) => (
            <Text key={i} dimColor>
              {'  '}
              {c.addr ?? '?'} {c.name ? `name=${c.name}` : ''} {c.lib ? `lib=${c.lib}` : ''} {c.cmd ? `last=${c.cmd}` : ''}
            </Text>
          ))}
          <YesNo question={props.pending.question} defaultYes active={props.active} onAnswer={(yes) => props.pending?.answer(yes)} />
        </Box>
      ) : null}
    </Box>
  );
}
