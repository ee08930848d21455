// SMTP connection slots: who may open one more connection, so that no client address can take the pool from the rest.
import net from 'node:net';

export interface SlotLimits {
  /** Connections open at once, all addresses together. */
  maxClients: number;
  /** Connections one address may hold at once; 0 = no per-address limit. */
  maxPerAddress: number;
  /** The last slots of the pool: taken only by an address that holds no connection yet. */
  reservedSlots: number;
}

export type Refusal = 'server_busy' | 'too_many_connections';

/**
 * The key a client is counted under: an IPv4 address as it is (an IPv4-mapped IPv6 address as its IPv4 one), an
 * IPv6 address by its /64, the prefix one subscriber line or host is given (RFC 6177), so that the 2^64 addresses
 * of one host count as one, as MTAs count them.
 */
export function addressKey(address: string): string {
  const zone = address.indexOf('%'); // a zone index names the interface, not the peer
  const bare = zone < 0 ? address : address.slice(0, zone);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  if (mapped) return mapped[1]!;
  if (!net.isIPv6(bare)) return bare;
  return `${expandIPv6(bare).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, lowercase, without leading zeros (an embedded IPv4 tail as two). */
function expandIPv6(address: string): string[] {
  let text = address.toLowerCase();
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, null];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === null ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => Number.parseInt(g, 16).toString(16));
}

/**
 * Counts open connections per address key and decides on each new one. Refused: past the pool (server_busy), past
 * the address's share, or into the reserved last slots by an address that already holds a connection
 * (too_many_connections). So one address never holds more than its share, a few addresses together never hold the
 * reserve, and while any slot is free an address holding nothing gets one.
 */
export class ConnectionSlots {
  private readonly held = new Map<string, number>();
  private open = 0;

  constructor(private readonly limits: SlotLimits) {}

  /** Connections open now. */
  get total(): number {
    return this.open;
  }

  /** Connections this address key holds now. */
  holding(key: string): number {
    return this.held.get(key) ?? 0;
  }

  /** Takes a slot for the key, or says why not (nothing is taken then). Every taken slot is given back by release(). */
  take(key: string): Refusal | null {
    const { maxClients, maxPerAddress, reservedSlots } = this.limits;
    const held = this.holding(key);
    if (this.open >= maxClients) return 'server_busy';
    if (maxPerAddress > 0 && held >= maxPerAddress) return 'too_many_connections';
    if (held > 0 && this.open >= maxClients - reservedSlots) return 'too_many_connections';
    this.held.set(key, held + 1);
    this.open++;
    return null;
  }

  release(key: string): void {
    const held = this.holding(key);
    if (held <= 0) return;
    if (held === 1) this.held.delete(key);
    else this.held.set(key, held - 1);
    this.open--;
  }
}
