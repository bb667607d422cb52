/**
 * The wizard's small input widgets (ink has none built in): a one-line text field, a list to pick
 * from, and a yes/no question. Ctrl-C is left to the wizard, which asks before aborting.
 */
import { Box, Text, useInput } from 'ink';
import { useState } from 'react';

/** A one-line text field; Enter on an empty field takes `defaultValue`. */
export function TextField(props: {
  label: string;
  defaultValue?: string;
  hint?: string;
  /** Masks typed characters (passwords). */
  mask?: boolean;
  active?: boolean;
  onSubmit(value: string): void;
}) {
  const [value, setValue] = useState('');
  useInput(
    (input, key) => {
      if (key.ctrl && input === 'u') return setValue(''); // Ctrl-U clears the line, as in a shell
      if (key.ctrl || key.meta || key.tab || key.upArrow || key.downArrow || key.escape) return;
      if (key.return) {
        props.onSubmit(value.trim() || props.defaultValue || '');
        return;
      }
      // NOTE: terminals send DEL (0x7f) for Backspace, which ink reports as `delete`.
      if (key.backspace || key.delete) {
        setValue((v) => v.slice(0, -1));
        return;
      }
      // A paste (or tmux send-keys) arrives as one chunk: keep every printable character.
      const printable = input.replace(/[\r\n]/g, '').replace(/[\u0000-\u001f\u007f]/g, '');
      if (printable) setValue((v) => v + printable);
    },
    { isActive: props.active ?? true },
  );
  const shown = props.mask ? '*'.repeat(value.length) : value;
  return (
    <Box flexDirection="column">
      <Box>
        <Text bold>{props.label} </Text>
        {shown ? <Text>{shown}</Text> : <Text dimColor>{props.defaultValue ?? ''}</Text>}
        <Text inverse> </Text>
      </Box>
      {props.hint ? <Text dimColor>  {props.hint}</Text> : null}
    </Box>
  );
}

/** One choice of a SelectList. */
export interface Choice<T extends string> {
  value: T;
  label: string;
  hint?: string;
}

/** Pick one with ↑/↓ (or the number) and Enter. */
export function SelectList<T extends string>(props: {
  label: string;
  choices: Array<Choice<T>>;
  initial?: T;
  active?: boolean;
  onSubmit(value: T): void;
}) {
  const start = Math.max(0, props.choices.findIndex((c) => c.value === props.initial));
  const [index, setIndex] = useState(start);
  useInput(
    (input, key) => {
      if (key.ctrl) return;
      if (key.upArrow || input === 'k') setIndex((i) => (i + props.choices.length - 1) % props.choices.length);
      else if (key.downArrow || input === 'j') setIndex((i) => (i + 1) % props.choices.length);
      else if (key.return) props.onSubmit(props.choices[index].value);
      else if (/^[1-9]$/.test(input) && Number(input) <= props.choices.length) setIndex(Number(input) - 1);
    },
    { isActive: props.active ?? true },
  );
  return (
    <Box flexDirection="column">
      <Text bold>{props.label}</Text>
      {props.choices.map((c, i) => (
        <Text key={c.value} color={i === index ? 'cyan' : undefined}>
          {i === index ? '❯' : ' '} {i + 1}. {c.label}
          {c.hint ? <Text dimColor> {c.hint}</Text> : null}
        </Text>
      ))}
    </Box>
  );
}

/** A y/n question; Enter takes `defaultYes`. */
export function YesNo(props: { question: string; defaultYes?: boolean; active?: boolean; onAnswer(yes: boolean): void }) {
  useInput(
    (input, key) => {
      if (key.ctrl) return;
      const c = input.toLowerCase();
      if (c === 'y') props.onAnswer(true);
      else if (c === 'n' || key.escape) props.onAnswer(false);
      else if (key.return) props.onAnswer(Boolean(props.defaultYes));
    },
    { isActive: props.active ?? true },
  );
  return (
    <Text>
      <Text bold>{props.question}</Text> <Text dimColor>{props.defaultYes ? '(Y/n)' : '(y/N)'}</Text>
    </Text>
  );
}
