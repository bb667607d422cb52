/**
 * What a clean (or nearly clean) sample says about the whole dataset: the exact one-sided binomial
 * (Clopper-Pearson) upper bound on the fraction of keys that differ.
 *
 * With k differing keys among n independent uniform draws, the bound p is the fraction for which
 * seeing k or fewer would happen only 5% of the time: P(X <= k | n, p) = 0.05. For k = 0 that is
 * p = 1 - 0.05^(1/n) (close to the "rule of three", 3/n): 0 differences in 10,000 draws means
 * fewer than 0.03% of keys differ, at 95% confidence.
 */

/** The 95% upper bound on the fraction that differs, given k of n draws differ. */
export function upperBound(k: number, n: number, confidence = 0.95): number {
  if (n <= 0) return 1;
  if (k >= n) return 1;
  const alpha = 1 - confidence;
  if (k === 0) return 1 - Math.pow(alpha, 1 / n);
  // P(X <= k) falls as p grows: bisect for the p where it equals alpha.
  let lo = k / n;
  let hi = 1;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (binomialCdf(k, n, mid) > alpha) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** P(X <= k) for X ~ Binomial(n, p), summed in log space (n up to millions, small k). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (p <= 0) return 1;
  if (p >= 1) return k >= n ? 1 : 0;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  let logC = 0; // log C(n, 0)
  let sum = 0;
  for (let i = 0; i <= k; i++) {
    if (i > 0) logC += Math.log(n - i + 1) - Math.log(i);
    sum += Math.exp(logC + i * lp + (n - i) * lq);
  }
  return Math.min(1, sum);
}

/**
 * A fraction as a percentage rounded UP to two significant digits, so the statement built on it
 * stays true ("fewer than 0.03%" for 0.02995%).
 */
export function percentCeil(fraction: number): string {
  const pct = fraction * 100;
  if (pct >= 100) return '100%';
  if (pct <= 0) return '0%';
  const mag = Math.floor(Math.log10(pct));
  const step = Math.pow(10, mag - 1);
  const up = Math.ceil(pct / step - 1e-9) * step;
  const decimals = Math.max(0, 1 - mag);
  return `${Number(up.toFixed(decimals))}%`;
}

/** "0 differences in 10,000 keys: fewer than 0.03% differ, at 95%". */
export function sampleStatement(k: number, n: number): string {
  const count = n.toLocaleString('en-US');
  if (n === 0) return 'no key was sampled';
  const bound = percentCeil(upperBound(k, n));
  return `${k.toLocaleString('en-US')} difference${k === 1 ? '' : 's'} in ${count} keys: fewer than ${bound} differ, at 95%`;
}
