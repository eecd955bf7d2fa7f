/**
 * The client address behind trusted proxies (issue 16 item 10): the socket's address unless it is
 * a trusted proxy, then the right-most X-Forwarded-For hop that is not one; IPv6 counted per /64,
 * an IPv4-mapped IPv6 address as its IPv4 address; uWS's uncompressed IPv6 text understood.
 */
import { describe, expect, it } from 'vitest';
import { clientAddress, parseAddress, rateLimitSubject, TrustedProxies } from './clientAddress.ts';

const subjectOf = (socket: string, forwardedFor: string, trusted: string): string =>
  rateLimitSubject(clientAddress(socket, forwardedFor, TrustedProxies.parse(trusted)));

describe('parseAddress', () => {
  it('reads IPv4, IPv6 in every spelling uWS and proxies use, and refuses the rest', () => {
    expect(parseAddress('203.0.113.7')).toEqual({ family: 4, address: '203.0.113.7' });
    const v6 = { family: 6, address: '2001:db8:0:0:0:0:0:1' };
    expect(parseAddress('2001:db8::1')).toEqual(v6);
    expect(parseAddress('2001:0DB8:0000:0000:0000:0000:0000:0001')).toEqual(v6);
    expect(parseAddress('[2001:db8::1]')).toEqual(v6);
    expect(parseAddress('[2001:db8::1]:443')).toEqual(v6);
    expect(parseAddress('fe80::1%eth0')).toEqual({ family: 6, address: 'fe80:0:0:0:0:0:0:1' });
    expect(parseAddress('203.0.113.7:8080')).toEqual({ family: 4, address: '203.0.113.7' });
    // IPv4-mapped IPv6 is the IPv4 address, dotted or in hex (how uWS prints it on a dual-stack socket)
    expect(parseAddress('::ffff:203.0.113.7')).toEqual({ family: 4, address: '203.0.113.7' });
    expect(parseAddress('0000:0000:0000:0000:0000:ffff:cb00:7107')).toEqual({
      family: 4,
      address: '203.0.113.7',
    });
    for (const junk of [
      '',
      'unknown',
      '1.2.3',
      '1.2.3.256',
      '2001:db8::1::2',
      'a'.repeat(50),
      '::ffff:1.2.3',
    ]) {
      expect(parseAddress(junk)).toBeNull();
    }
  });
});

describe('TrustedProxies', () => {
  it('parses a comma-separated list of addresses and CIDRs of both families', () => {
    const proxies = TrustedProxies.parse(' 10.0.0.0/8, 192.0.2.1 ,2001:db8:ff::/48,::1 ');
    const has = (text: string) => proxies.includes(parseAddress(text)!);
    expect(has('10.200.3.4')).toBe(true);
    expect(has('11.0.0.1')).toBe(false);
    expect(has('192.0.2.1')).toBe(true);
    expect(has('192.0.2.2')).toBe(false);
    expect(has('2001:db8:ff:1::9')).toBe(true);
    expect(has('2001:db8:fe::9')).toBe(false);
    expect(has('::1')).toBe(true);
    expect(has('0000:0000:0000:0000:0000:ffff:0a00:0001')).toBe(true); // 10.0.0.1, mapped
    // an IPv4-mapped network is the IPv4 network it maps
    const mapped = TrustedProxies.parse('::ffff:10.0.0.0/104');
    expect(mapped.includes(parseAddress('10.1.2.3')!)).toBe(true);
    expect(mapped.includes(parseAddress('11.1.2.3')!)).toBe(false);
    expect(TrustedProxies.parse('').size).toBe(0);
    expect(TrustedProxies.parse(' , ').size).toBe(0);
  });

  it('refuses an entry that is not an address or a CIDR, naming TRUSTED_PROXIES', () => {
    for (const bad of ['10.0.0.0/33', 'proxy.local', '2001:db8::/129', '10.0.0.1/', '1.2.3.4/-1', '/8']) {
      expect(() => TrustedProxies.parse(bad)).toThrow(/TRUSTED_PROXIES/);
    }
  });
});

describe('clientAddress', () => {
  it('is the socket address when it is not a trusted proxy: X-Forwarded-For is ignored', () => {
    expect(subjectOf('198.51.100.9', '203.0.113.7', '')).toBe('198.51.100.9');
    expect(subjectOf('198.51.100.9', '203.0.113.7', '10.0.0.0/8')).toBe('198.51.100.9');
  });

  it('behind trusted proxies: the right-most hop that is not a trusted proxy', () => {
    const trusted = '127.0.0.1, 10.0.0.0/8';
    expect(subjectOf('127.0.0.1', '203.0.113.7', trusted)).toBe('203.0.113.7');
    // a client's own X-Forwarded-For is on the left: the hop the proxies saw wins
    expect(subjectOf('127.0.0.1', '1.1.1.1, 203.0.113.7', trusted)).toBe('203.0.113.7');
    // a chain of trusted proxies is walked through
    expect(subjectOf('127.0.0.1', '1.1.1.1, 203.0.113.7, 10.1.1.1, 10.2.2.2', trusted)).toBe('203.0.113.7');
    // uWS joins repeated headers with ", "
    expect(subjectOf('127.0.0.1', '203.0.113.7, 10.1.1.1', trusted)).toBe('203.0.113.7');
    // every hop trusted: the left-most one
    expect(subjectOf('127.0.0.1', '10.9.9.9, 10.1.1.1', trusted)).toBe('10.9.9.9');
    // no header, or junk right of any address: the last trusted address seen
    expect(subjectOf('127.0.0.1', '', trusted)).toBe('127.0.0.1');
    expect(subjectOf('127.0.0.1', '203.0.113.7, garbage', trusted)).toBe('127.0.0.1');
    expect(subjectOf('127.0.0.1', 'garbage, 10.1.1.1', trusted)).toBe('10.1.1.1');
    // a dual-stack socket shows 127.0.0.1 as mapped IPv6
    expect(subjectOf('0000:0000:0000:0000:0000:ffff:7f00:0001', '203.0.113.7', trusted)).toBe('203.0.113.7');
  });

  it('counts IPv6 per /64 and IPv4-mapped IPv6 as IPv4', () => {
    expect(subjectOf('2001:db8:1:2::1', '', '')).toBe('2001:db8:1:2::/64');
    expect(subjectOf('2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '', '')).toBe('2001:db8:1:2::/64');
    expect(subjectOf('2001:db8:1:3::1', '', '')).toBe('2001:db8:1:3::/64');
    expect(subjectOf('::ffff:203.0.113.7', '', '')).toBe('203.0.113.7');
    expect(subjectOf('::1', '2001:db8:1:2:3:4:5:6', '::1')).toBe('2001:db8:1:2::/64');
    expect(subjectOf('127.0.0.1', '::ffff:203.0.113.7', '127.0.0.1')).toBe('203.0.113.7');
  });
});
