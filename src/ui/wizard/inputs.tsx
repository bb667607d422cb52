/**
 * The wizard's small input widgets (ink has none built in): a one-line text field, a list to pick
 * from, and a yes/no question. Ctrl-C is left to the wizard, which asks before aborting.
 */
import { Box, Text, useInput, type Key } from 'ink';
import { createContext, useContext, useRef, useState } from 'react';

type KeyHandler = (input: string, key: Key) => void;

/**
 * Routes keys to the active widget. ink subscribes `useInput` handlers in a passive effect, i.e.
 * after the new screen is drawn, so a key typed right after a question appears could reach the
 * previous widget or none. Under a router the wizard subscribes once, and the active widget
 * registers its handler while rendering: a key sees the widget that is on the screen.
 */
export const InputRoute = createContext<{ current?: KeyHandler } | null>(null);

/** Like ink's useInput, through the InputRoute when there is one. */
function useKeys(handler: KeyHandler, active: boolean): void {
  const route = useContext(InputRoute);
  if (route && active) route.current = handler;
  useInput(handler, { isActive: active && !route });
}

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
  // NOTE: keys can arrive faster than React re-renders (a paste, tmux send-keys): the handler
  // reads and writes the text through a ref so no keystroke sees a stale value.
  const text = useRef('');
  const update = (v: string) => {
    text.current = v;
    setValue(v);
  };
  useKeys(
    (input, key) => {
      if (key.ctrl && input === 'u') return update(''); // Ctrl-U clears the line, as in a shell
      if (key.ctrl || key.meta || key.tab || key.upArrow || key.downArrow || key.escape) return;
      const submit = (v: string) => props.onSubmit(v.trim() || props.defaultValue || '');
      if (key.return) return submit(text.current);
      // NOTE: terminals send DEL (0x7f) for Backspace, which ink reports as `delete`.
      if (key.backspace || key.delete) return update(text.current.slice(0, -1));
      // A chunk may hold several characters and an Enter: text up to the newline, then submit.
      const clean = (t: string) => t.replace(/[\u0000-\u001f\u007f]/g, '');
      const nl = input.search(/[\r\n]/);
      if (nl >= 0) return submit(text.current + clean(input.slice(0, nl)));
      const printable = clean(input);
      if (printable) update(text.current + printable);
    },
    props.active ?? true,
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
  const [index, setIndexState] = useState(start);
  const current = useRef(start); // see TextField: keys may outrun renders
  const setIndex = (i: number) => {
    current.current = i;
    setIndexState(i);
  };
  useKeys(
    (input, key) => {
      if (key.ctrl) return;
      const n = props.choices.length;
      if (key.upArrow || input === 'k') setIndex((current.current + n - 1) % n);
      else if (key.downArrow || input === 'j') setIndex((current.current + 1) % n);
      else if (key.return) props.onSubmit(props.choices[current.current].value);
      else if (/^[1-9]$/.test(input) && Number(input) <= n) setIndex(Number(input) - 1);
    },
    props.active ?? true,
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
  useKeys(
    (input, key) => {
      if (key.ctrl) return;
      const c = input.toLowerCase();
      if (c === 'y') props.onAnswer(true);
      else if (c === 'n' || key.escape) props.onAnswer(false);
      else if (key.return) props.onAnswer(Boolean(props.defaultYes));
    },
    props.active ?? true,
  );
  return (
    <Text>
      <Text bold>{props.question}</Text> <Text dimColor>{props.defaultYes ? '(Y/n)' : '(y/N)'}</Text>
    </Text>
  );
}
