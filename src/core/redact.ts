/**
 * Secrets never reach logs, JSON events, plans or state files.
 * Every string that leaves the process through those paths goes through `redact`.
 */

const URL_CREDENTIALS = /\b((?:rediss?|sentinel):\/\/)([^:@/\s]*):([^@/\s]*)@/gi;
const AUTH_ARGS = /\b(AUTH|masterauth|requirepass)(\s+)(\S+)(\s+\S+)?/gi;

/** Removes credentials from URLs and AUTH-like command text in `text`. */
export function redact(text: string): string {
  return text
    .replace(URL_CREDENTIALS, (_m, scheme: string, user: string) => `${scheme}${user ? `${user}:` : ':'}***@`)
    .replace(AUTH_ARGS, (m: string, cmd: string, sp: string, a: string, b?: string) =>
      // Already-redacted text (plans show `<redacted>`) stays as it is.
      a === '<redacted>' || a === '***' ? m : b ? `${cmd}${sp}${a} ***` : `${cmd}${sp}***`,
    );
}

/** Deeply redacts every string in a JSON-able value, and drops keys named like secrets. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (/pass(word)?$|secret|token/i.test(k)) continue;
      out[k] = redactDeep(v);
    }
    return out as T;
  }
  return value;
}
