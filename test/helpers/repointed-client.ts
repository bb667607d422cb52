/**
 * The application's connection in the cluster run tests: it writes to the address named in `file`
 * and reopens when the repoint hook rewrites the file. The file holds `host:port` or
 * `single host:port` (a plain client) or `cluster host:port` (a cluster-aware client seeded there).
 * Clients retry briefly, so a write during the cutover fails fast instead of hanging.
 */
import { readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';

function open(text: string): Redis | Cluster {
  const [kind, addr] = text.includes(' ') ? text.split(' ') : ['single', text];
  const at = addr.lastIndexOf(':');
  const [host, port] = [addr.slice(0, at), Number(addr.slice(at + 1))];
  const c = kind === 'cluster'
    ? new Cluster([{ host, port }], { redisOptions: { maxRetriesPerRequest: 1 }, clusterRetryStrategy: () => 100 })
    : new Redis({ host, port, maxRetriesPerRequest: 0, retryStrategy: (n) => (n > 50 ? null : 50) });
  c.on('error', () => {});
  return c;
}

/** See the file comment. `switches` counts the reopenings; `close` stops watching and disconnects. */
export class RepointedClient {
  client: Redis | Cluster;
  switches = 0;
  private text: string;
  private readonly watch: NodeJS.Timeout;

  constructor(private readonly file: string) {
    this.text = readFileSync(file, 'utf8').trim();
    this.client = open(this.text);
    this.watch = setInterval(() => {
      const next = readFileSync(this.file, 'utf8').trim();
      if (!next || next === this.text) return;
      const old = this.client;
      this.text = next;
      this.client = open(next);
      this.switches++;
      old.quit().catch(() => old.disconnect());
    }, 20);
  }

  close(): void {
    clearInterval(this.watch);
    this.client.disconnect();
  }
}
