/** Number formatting shared by the human renderers (plan, progress, demo report, wizard). */

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** 12345 → "12,345". */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 1234 → "1.2 s", 87 → "87 ms", 125000 → "2m05s". */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m${String(s).padStart(2, '0')}s`;
}

/** Formats a progress quantity by its unit ("bytes" → sizes, anything else → counts + unit). */
export function formatQuantity(n: number, unit?: string): string {
  if (unit === 'bytes' || unit === 'B') return formatBytes(n);
  return unit ? `${formatCount(n)} ${unit}` : formatCount(n);
}
