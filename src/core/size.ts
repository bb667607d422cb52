/**
 * Sizes in bytes as Redis writes them in its config: `64mb`, `1gb`, `16384`. Parsing follows
 * Redis' `memtoull` (src/util.c): a whole number and an optional unit, case-insensitive, where
 * `k`/`m`/`g` are powers of 1000 and `kb`/`mb`/`gb` powers of 1024. Printing uses the 1024 units,
 * so a printed size can be pasted back into a flag or a CONFIG SET.
 */

export const KB = 1024;
export const MB = 1024 * 1024;
export const GB = 1024 * MB;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1000, kb: KB, m: 1000 * 1000, mb: MB, g: 1000 * 1000 * 1000, gb: GB };

/** `64mb` → 67108864; null when `text` is not a size. */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return null;
  const mul = UNITS[m[2].toLowerCase()];
  if (mul === undefined) return null;
  const n = Number(m[1]) * mul;
  return Number.isSafeInteger(n) ? n : null;
}

/** Bytes for people and for flags: `1.0mb`, `348.0mb`, `2.5gb`, `512b`. */
export function fmtSize(bytes: number): string {
  if (bytes >= GB) return `${(bytes / GB).toFixed(1)}gb`;
  if (bytes >= MB) return `${(bytes / MB).toFixed(1)}mb`;
  if (bytes >= KB) return `${(bytes / KB).toFixed(1)}kb`;
  return `${Math.round(bytes)}b`;
}

/** Rounds up to whole MB and writes it as a flag value: 3.2 MB → `4mb`. */
export function roundUpMbFlag(bytes: number): string {
  return `${Math.max(1, Math.ceil(bytes / MB))}mb`;
}
