/**
 * `ferry verify --from URL --to URL [--sample N] [--rate KEYS/S] [--json] …`: compares two servers
 * in both directions (src/verify/). Exit 0 when they agree, 5 when differences persist through the
 * rounds. The report goes to stdout (text, or with --json JSON lines ending in done/failed with the
 * report); progress goes to stderr (bars on a terminal).
 */
import type { Command } from 'commander';
import { collect } from '../core/spec-from-flags.js';
import { VERIFY_DEFAULTS } from '../verify/options.js';

export function register(program: Command): void {
  program
    .command('verify')
    .description('compare the source and the target key by key, both directions (exit 0: they agree, 5: differences)')
    .requiredOption('--from <url>', 'the source: redis://[user:pass@]host:port (rediss:// for TLS)')
    .requiredOption('--to <url>', 'the target: redis://[user:pass@]host:port')
    .option('--sample <n>', 'check N random keys per db (half drawn on each side) instead of every key')
    .option('--rate <keys/s>', 'read at most this many keys per second from each side')
    .option('--ttl-tolerance <ms>', `TTLs this close count as equal (default ${VERIFY_DEFAULTS.ttlToleranceMs})`)
    .option('--rounds <n>', `recheck a differing key up to N times before reporting it (default ${VERIFY_DEFAULTS.rounds})`)
    .option('--round-interval <ms>', `time between rechecks (default ${VERIFY_DEFAULTS.roundIntervalMs})`)
    .option('--max-keys <n>', `differing keys named in the report (default ${VERIFY_DEFAULTS.maxKeys})`)
    .option('--max-recheck <n>', `differing keys kept for the rechecks; more are only counted (default ${VERIFY_DEFAULTS.maxRecheck})`)
    .option('--include <glob>', 'only keys matching (repeatable), as the sync ran', collect)
    .option('--exclude <glob>', 'skip keys matching (repeatable), as the sync ran', collect)
    .option('--db-map <src:dst>', 'source db SRC was written to target db DST (repeatable), as the sync ran', collect)
    .option('--drop-field-ttl', 'the sync ran with --drop-field-ttl: compare hash fields without their TTLs')
    .option('--json', 'JSON lines on stdout: progress, then done/failed with the report')
    .option('--tls-ca <file>', 'CA certificate for rediss:// URLs')
    .option('--tls-cert <file>', 'client certificate for rediss:// URLs')
    .option('--tls-key <file>', 'client key for rediss:// URLs')
    .option('--tls-insecure', 'do not verify TLS certificates')
    .action(async (flags: import('../verify/options.js').VerifyFlags & { json?: boolean }) => {
      const { verifyCommand } = await import('./verify-run.js');
      await verifyCommand(flags);
    });
}
