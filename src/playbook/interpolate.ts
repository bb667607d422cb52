/**
 * `${NAME}` interpolation for playbooks, so secrets (passwords, URLs with credentials) come from the
 * environment instead of the file. Syntax: `${NAME}`, `${NAME:-default}` (default when unset or empty; a plain `${NAME}` must be set and non-empty),
 * `$$` for a literal `$`. A missing variable is an error that names it.
 */

/** Thrown by `interpolate` when a variable is unset; the caller adds file and line. */
export class MissingEnvError extends Error {
  constructor(
    readonly variable: string,
    readonly empty = false,
  ) {
    super(`environment variable ${variable} is ${empty ? 'empty' : 'not set'}`);
    this.name = 'MissingEnvError';
  }
}

/** Thrown for `${` without a closing brace or with an invalid name. */
export class BadPlaceholderError extends Error {
  constructor(readonly text: string) {
    super(`bad placeholder "${text}": write \${NAME} or \${NAME:-default} (and $$ for a literal $)`);
    this.name = 'BadPlaceholderError';
  }
}

const PLACEHOLDER = /\$\$|\$\{([^}]*)\}|\$\{/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Replaces placeholders in `text` from `env`; returns the text and the variables it used. */
export function interpolate(text: string, env: NodeJS.ProcessEnv): { value: string; used: string[] } {
  const used: string[] = [];
  const value = text.replace(PLACEHOLDER, (match: string, inner: string | undefined) => {
    if (match === '$$') return '$';
    if (inner === undefined) throw new BadPlaceholderError(match);
    const sep = inner.indexOf(':-');
    const name = sep >= 0 ? inner.slice(0, sep) : inner;
    if (!NAME.test(name)) throw new BadPlaceholderError(match);
    used.push(name);
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (sep >= 0) return inner.slice(sep + 2);
    // NOTE: an empty value counts as missing: an empty URL or port is never what a playbook means.
    throw new MissingEnvError(name, v === '');
  });
  return { value, used };
}
