/**
 * ferry's own version, read at run time from the package.json that ships with it, so `--version`
 * never disagrees with what npm installed. The file is found by walking up from this module: the
 * compiled `dist/src/core/version.js`, an npm install (`node_modules/redis-ferry/dist/…`) and the
 * TypeScript source under vitest all reach the package root that way.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'redis-ferry';

/** The `version` of the nearest package.json named redis-ferry above `from`, or 'unknown'. */
export function packageVersion(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* no (readable) package.json here: keep walking up */
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}
