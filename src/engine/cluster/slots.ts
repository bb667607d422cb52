/**
 * Redis Cluster slot math and topology, shared by the target router and the cluster source.
 *
 * - `keySlot`: the hash slot of a key, as `keyHashSlot()` in redis src/cluster.h computes it:
 *   CRC16 (XMODEM: poly 0x1021, init 0) of the key, `& 0x3FFF` (16384 slots), except that when the
 *   key holds a `{` followed later by a `}` with at least one byte between them, only the bytes
 *   between the first `{` and the first `}` after it are hashed (hash tags). `{}` hashes the whole
 *   key.
 * - `slotTags`: for every slot, a short tag whose slot it is, found by counting in base 36 until
 *   every slot has one (deterministic: the same names on every run). `prefix{tag}suffix` is then a
 *   key name in a chosen slot: ferry's per-slot checkpoint keys use them.
 * - `parseClusterShards` (7.0+) and `parseClusterNodes` (every version): the masters, their slot
 *   ranges, replicas and health. CLUSTER NODES also shows a master's open slot migrations
 *   (`[slot->-node]` migrating, `[slot-<-node]` importing), on the node's own line only
 *   (clusterGenNodeDescription in redis src/cluster_legacy.c).
 */

export const SLOTS = 16384;

const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1;
    t[i] = c & 0xffff;
  }
  return t;
})();

/** CRC16-XMODEM of bytes [start, end). */
export function crc16(b: Uint8Array, start = 0, end = b.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b[i]) & 0xff];
  return crc;
}

/** Hash slot of the key held in bytes [start, end) of `b` (see the file comment). */
export function slotOfBytes(b: Uint8Array, start: number, end: number): number {
  let s = start;
  while (s < end && b[s] !== 0x7b) s++; // '{'
  if (s < end) {
    let e = s + 1;
    while (e < end && b[e] !== 0x7d) e++; // '}'
    if (e < end && e > s + 1) return crc16(b, s + 1, e) & 0x3fff;
  }
  return crc16(b, start, end) & 0x3fff;
}

/** Hash slot of a key. */
export function keySlot(key: Buffer | string): number {
  const b = typeof key === 'string' ? Buffer.from(key) : key;
  return slotOfBytes(b, 0, b.length);
}

let tags: string[] | null = null;

/** One tag per slot: `keySlot('{' + slotTags()[s] + '}') === s`. Computed once (~170k CRCs). */
export function slotTags(): string[] {
  if (tags) return tags;
  const out: string[] = new Array(SLOTS);
  let left = SLOTS;
  for (let i = 0; left > 0; i++) {
    const t = i.toString(36);
    const s = keySlot(t);
    if (out[s] === undefined) {
      out[s] = t;
      left--;
    }
  }
  tags = out;
  return out;
}

/** A node as the cluster describes it. */
export interface ClusterNode {
  id: string;
  host: string;
  port: number;
  role: 'master' | 'replica';
  /** For a replica: its master's id. */
  masterId?: string;
  /** False when the cluster marks it failed (fail / fail? / noaddr) or loading. */
  healthy: boolean;
  replOffset?: number;
}

/** A master with its slot ranges (inclusive) and its replicas. */
export interface ClusterShard {
  master: ClusterNode;
  replicas: ClusterNode[];
  ranges: Array<[number, number]>;
}

/** What one node reports about the cluster. */
export interface ClusterTopology {
  shards: ClusterShard[];
  /** Open migrations the reporting node shows for itself: slot → direction and peer id. */
  migrations: Array<{ slot: number; kind: 'migrating' | 'importing'; peer: string; node: string }>;
}

/** Parses `CLUSTER NODES` text (one line per node). */
export function parseClusterNodes(text: string): ClusterTopology {
  const nodes = new Map<string, ClusterNode>();
  const ranges = new Map<string, Array<[number, number]>>();
  const migrations: ClusterTopology['migrations'] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length < 8) continue;
    // <id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <epoch> <link> <slot>...
    const [id, addr, flagText, master] = f;
    const flags = flagText.split(',');
    const hostPort = addr.split('@')[0];
    const colon = hostPort.lastIndexOf(':');
    const node: ClusterNode = {
      id,
      host: hostPort.slice(0, colon).replace(/^\[|\]$/g, ''),
      port: Number(hostPort.slice(colon + 1)),
      role: flags.includes('master') ? 'master' : 'replica',
      masterId: master !== '-' ? master : undefined,
      healthy: !flags.some((x) => x === 'fail' || x === 'fail?' || x === 'noaddr' || x === 'handshake'),
    };
    nodes.set(id, node);
    const mine: Array<[number, number]> = [];
    for (const s of f.slice(8)) {
      if (s.startsWith('[')) {
        // [slot->-id] migrating to id, [slot-<-id] importing from id
        const m = /^\[(\d+)-([<>])-([0-9a-f]+)\]$/.exec(s);
        if (m) migrations.push({ slot: Number(m[1]), kind: m[2] === '>' ? 'migrating' : 'importing', peer: m[3], node: id });
        continue;
      }
      const [a, b] = s.split('-').map(Number);
      mine.push([a, b ?? a]);
    }
    ranges.set(id, mine);
  }
  return { shards: shardsFrom(nodes, ranges), migrations };
}

/** Parses the `CLUSTER SHARDS` reply (7.0+; RESP2: alternating names and values). */
export function parseClusterShards(reply: unknown): ClusterTopology {
  const nodes = new Map<string, ClusterNode>();
  const ranges = new Map<string, Array<[number, number]>>();
  for (const shard of reply as unknown[][]) {
    const s = pairs(shard);
    const slots = (s.slots as unknown[]).map(Number);
    const members = (s.nodes as unknown[][]).map(pairs);
    const master = members.find((n) => String(n.role) === 'master');
    const shardRanges: Array<[number, number]> = [];
    for (let i = 0; i + 1 < slots.length; i += 2) shardRanges.push([slots[i], slots[i + 1]]);
    for (const n of members) {
      const node: ClusterNode = {
        id: String(n.id),
        host: String(n.ip ?? n.endpoint),
        port: Number(n.port ?? n['tls-port']),
        role: String(n.role) === 'master' ? 'master' : 'replica',
        masterId: String(n.role) === 'master' ? undefined : master ? String(master.id) : undefined,
        healthy: String(n.health) === 'online',
        replOffset: Number(n['replication-offset']),
      };
      nodes.set(node.id, node);
      ranges.set(node.id, node.role === 'master' ? shardRanges : []);
    }
  }
  return { shards: shardsFrom(nodes, ranges), migrations: [] };
}

function pairs(a: unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i + 1 < a.length; i += 2) o[String(a[i])] = a[i + 1];
  return o;
}

function shardsFrom(nodes: Map<string, ClusterNode>, ranges: Map<string, Array<[number, number]>>): ClusterShard[] {
  const shards: ClusterShard[] = [];
  for (const n of nodes.values()) {
    if (n.role !== 'master') continue;
    const r = ranges.get(n.id) ?? [];
    shards.push({ master: n, replicas: [...nodes.values()].filter((x) => x.masterId === n.id), ranges: r });
  }
  // Stable order: by first slot (masters without slots last, by id).
  return shards.sort((a, b) => (a.ranges[0]?.[0] ?? SLOTS) - (b.ranges[0]?.[0] ?? SLOTS) || (a.master.id < b.master.id ? -1 : 1));
}

/** Number of slots in the ranges. */
export function slotCount(ranges: Array<[number, number]>): number {
  return ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
}

/** Owner index per slot (-1 when unassigned) from the shards' ranges. */
export function slotOwners(shards: ClusterShard[]): Int16Array {
  const owner = new Int16Array(SLOTS).fill(-1);
  shards.forEach((s, i) => {
    for (const [a, b] of s.ranges) owner.fill(i, a, b + 1);
  });
  return owner;
}

/** `a-b,c` text of slot ranges for messages. */
export function rangesText(ranges: Array<[number, number]>): string {
  return ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',');
}
