/**
 * Who a request comes from, for the per-address rate limits and the Idempotency-Key scope before
 * login (issue 16 item 10). The socket's address, unless it is one of TRUSTED_PROXIES (addresses
 * or CIDRs, IPv4 and IPv6): then the right-most X-Forwarded-For hop that is not itself a trusted
 * proxy, walking from the right, since only what the trusted proxies appended can be believed and a
 * client may write anything left of it. An IPv4-mapped IPv6 address counts as its IPv4 address,
 * and an IPv6 client as its /64: one host gets a whole /64 to pick addresses from, so counting single
 * IPv6 addresses would limit nothing. Never throws on what a client sends; a hop that is not an
 * address ends the walk at the last address believed.
 *
 * Each gateway app lives on a thread of its own (gateway/app.ts), which sets the thread's trusted
 * proxies once at start (`trustProxies`); gateway/http/mount.ts reads the subject synchronously
 * from uWS (`requestSubject`), before the request's first await.
 */
import { BlockList, isIPv6 } from 'node:net';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';

/** An address in one canonical spelling per family: dotted IPv4, or 8 hextets without leading zeros. */
export interface ParsedAddress {
  readonly family: 4 | 6;
  readonly address: string;
}

/** What the socket gave when it is not an address (never seen from uWS; kept as it came). */
export interface UnparsedAddress {
  readonly family: 0;
  readonly address: string;
}

export type ClientAddress = ParsedAddress | UnparsedAddress;

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4Text(text: string): string | null {
  const match = IPV4.exec(text);
  if (match === null) return null;
  const parts = match.slice(1).map(Number);
  return parts.every((part) => part <= 255) ? parts.join('.') : null;
}

/** The 8 hextets of an address `isIPv6` accepted (compressed, uncompressed, or with a dotted IPv4 tail). */
function hextetsOf(text: string): number[] {
  let body = text;
  if (body.includes('.')) {
    const cut = body.lastIndexOf(':');
    const [a, b, c, d] = body
      .slice(cut + 1)
      .split('.')
      .map(Number);
    body = `${body.slice(0, cut + 1)}${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
  }
  const hex = (part: string): number[] => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const gap = body.indexOf('::');
  if (gap === -1) return hex(body);
  const head = hex(body.slice(0, gap));
  const rest = hex(body.slice(gap + 2));
  return [...head, ...Array<number>(8 - head.length - rest.length).fill(0), ...rest];
}

/**
 * An address as a client, a proxy or uWS writes it: IPv4, IPv6 in any spelling (uWS prints every
 * hextet), in brackets, with a port or a zone; null for anything else.
 */
export function parseAddress(raw: string): ParsedAddress | null {
  let text = raw.trim();
  if (text.length === 0 || text.length > 64) return null;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) return null;
    const after = text.slice(close + 1);
    if (after !== '' && !/^:\d{1,5}$/.test(after)) return null;
    text = text.slice(1, close);
  } else if (/^[\d.]+:\d{1,5}$/.test(text)) {
    text = text.slice(0, text.indexOf(':')); // IPv4 with a port
  }
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  const v4 = ipv4Text(text);
  if (v4 !== null) return { family: 4, address: v4 };
  if (!isIPv6(text)) return null;
  const hextets = hextetsOf(text);
  // ::ffff:a.b.c.d, IPv4-mapped: the IPv4 client it is
  if (hextets.slice(0, 5).every((h) => h === 0) && hextets[5] === 0xffff) {
    const [high, low] = [hextets[6]!, hextets[7]!];
    return { family: 4, address: `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}` };
  }
  return { family: 6, address: hextets.map((h) => h.toString(16)).join(':') };
}

/** TRUSTED_PROXIES, parsed once: addresses and CIDRs of both families. */
export class TrustedProxies {
  private constructor(
    private readonly list: BlockList,
    /** Entries given. */
    readonly size: number,
  ) {}

  static readonly NONE = new TrustedProxies(new BlockList(), 0);

  /** `10.0.0.0/8, 192.0.2.1, 2001:db8::/32`; throws naming TRUSTED_PROXIES on an entry that is neither. */
  static parse(setting: string): TrustedProxies {
    const list = new BlockList();
    const entries = setting
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
    for (const entry of entries) {
      const slash = entry.indexOf('/');
      const spelled = slash === -1 ? entry : entry.slice(0, slash);
      const address = parseAddress(spelled);
      const bits = slash === -1 ? null : entry.slice(slash + 1);
      const spelledBits = spelled.includes(':') ? 128 : 32;
      if (address === null || (bits !== null && (!/^\d{1,3}$/.test(bits) || Number(bits) > spelledBits))) {
        throw new Error(`TRUSTED_PROXIES: "${entry}" is not an IP address or a CIDR (address/bits)`);
      }
      // an IPv4-mapped entry (::ffff:10.0.0.0/104) is the IPv4 network it maps
      const prefix =
        (bits === null ? spelledBits : Number(bits)) - (address.family === 4 ? spelledBits - 32 : 0);
      if (prefix < 0) throw new Error(`TRUSTED_PROXIES: "${entry}" is wider than the IPv4-mapped range`);
      list.addSubnet(address.address, prefix, address.family === 4 ? 'ipv4' : 'ipv6');
    }
    return new TrustedProxies(list, entries.length);
  }

  includes(address: ClientAddress): boolean {
    if (this.size === 0 || address.family === 0) return false;
    return this.list.check(address.address, address.family === 4 ? 'ipv4' : 'ipv6');
  }
}

/**
 * The client: the socket's address, or behind trusted proxies the right-most X-Forwarded-For hop
 * that is not a trusted proxy (all trusted: the left-most; a hop that is not an address: the last
 * address believed before it).
 */
export function clientAddress(socket: string, forwardedFor: string, proxies: TrustedProxies): ClientAddress {
  let client: ClientAddress = parseAddress(socket) ?? { family: 0, address: socket };
  if (!proxies.includes(client)) return client;
  const hops = forwardedFor.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parseAddress(hops[i]!);
    if (hop === null) break;
    client = hop;
    if (!proxies.includes(hop)) break;
  }
  return client;
}

/** What the per-address counters count: an IPv4 address, or an IPv6 address's /64 prefix. */
export function rateLimitSubject(address: ClientAddress): string {
  if (address.family !== 6) return address.address;
  return `${address.address.split(':').slice(0, 4).join(':')}::/64`;
}

let threadProxies = TrustedProxies.NONE;

/** This thread's trusted proxies (gateway/app.ts, from TRUSTED_PROXIES, once at start). */
export function trustProxies(proxies: TrustedProxies): void {
  threadProxies = proxies;
}

/**
 * The request's rate-limit subject, read from uWS synchronously (the header only from a trusted
 * proxy). uWS joins repeated X-Forwarded-For headers with ", ".
 */
export function requestSubject(res: HttpResponse, req: HttpRequest): string {
  const socket = Buffer.from(res.getRemoteAddressAsText()).toString();
  if (threadProxies.size === 0)
    return rateLimitSubject(parseAddress(socket) ?? { family: 0, address: socket });
  return rateLimitSubject(clientAddress(socket, req.getHeader('x-forwarded-for'), threadProxies));
}
