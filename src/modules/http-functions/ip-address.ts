/**
 * IP address parsing and the ranges external HTTP functions may not reach when
 * private addresses are blocked: loopback, private, link-local, shared (CGNAT),
 * documentation, benchmarking, multicast, reserved and unspecified addresses,
 * plus IPv6 forms that embed such an IPv4 address.
 */

/** Parses IPv4 in every form `inet_aton` accepts: `127.0.0.1`, `127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`. */
export function parseIpv4(text: string): number | null {
  const parts = (text.endsWith(".") ? text.slice(0, -1) : text).split(".");
  if (parts.length === 0 || parts.length > 4) return null;

  const numbers: number[] = [];
  for (const part of parts) {
    const value = parseIpv4Part(part);
    if (value === null) return null;
    numbers.push(value);
  }

  // The last part fills every byte the earlier parts leave free (`127.1` is 127.0.0.1).
  const last = numbers.pop()!;
  if (numbers.some((value) => value > 255)) return null;
  if (last >= 2 ** (8 * (4 - numbers.length))) return null;
  let address = 0;
  for (const [index, value] of numbers.entries()) address += value * 2 ** (8 * (3 - index));
  return address + last;
}

/** Parses IPv6 text (brackets and a `%zone` suffix allowed) into eight 16-bit groups. */
export function parseIpv6(text: string): number[] | null {
  let address = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = address.indexOf("%");
  if (zone !== -1) address = address.slice(0, zone);
  if (!address.includes(":")) return null;

  // A trailing dotted IPv4 part stands for the last two groups.
  const lastColon = address.lastIndexOf(":");
  const lastPart = address.slice(lastColon + 1);
  if (lastPart.includes(".")) {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(lastPart)) return null;
    const v4 = parseIpv4(lastPart);
    if (v4 === null) return null;
    const high = Math.floor(v4 / 0x10000).toString(16);
    const low = (v4 % 0x10000).toString(16);
    address = `${address.slice(0, lastColon + 1)}${high}:${low}`;
  }

  const halves = address.split("::");
  if (halves.length > 2) return null;
  const head = parseGroups(halves[0]!);
  const rest = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (head === null || rest === null) return null;

  const explicit = head.length + rest.length;
  if (halves.length === 1) return explicit === 8 ? head : null;
  if (explicit > 7) return null;
  return [...head, ...new Array<number>(8 - explicit).fill(0), ...rest];
}

/** Tells whether an IP address text (any IPv4 or IPv6 spelling) falls in a blocked range; null when it is no IP address. */
export function isBlockedAddress(text: string): boolean | null {
  const v4 = parseIpv4(text);
  if (v4 !== null) return isBlockedIpv4(v4);
  const v6 = parseIpv6(text);
  if (v6 !== null) return isBlockedIpv6(v6);
  return null;
}

const BLOCKED_IPV4: ReadonlyArray<readonly [string, number]> = [
  ["0.0.0.0", 8], // "this network", including the unspecified address
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // shared address space (carrier-grade NAT)
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, including cloud metadata services
  ["172.16.0.0", 12],
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.168.0.0", 16],
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, including the broadcast address
];

const BLOCKED_IPV4_RANGES = BLOCKED_IPV4.map(([base, prefix]) => ({ base: parseIpv4(base)!, size: 2 ** (32 - prefix) }));

export function isBlockedIpv4(address: number): boolean {
  return BLOCKED_IPV4_RANGES.some(({ base, size }) => address >= base && address < base + size);
}

export function isBlockedIpv6(groups: number[]): boolean {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  const embeddedV4 = g6 * 0x10000 + g7;

  // ::/96 covers ::, ::1 and the deprecated IPv4-compatible form; ::ffff:0:0/96 is IPv4-mapped.
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && (g5 === 0 || g5 === 0xffff)) {
    return g5 === 0 && embeddedV4 <= 1 ? true : isBlockedIpv4(embeddedV4);
  }
  // 64:ff9b::/96 is NAT64, which reaches the embedded IPv4 address; 64:ff9b:1::/48 is for local use.
  if (g0 === 0x64 && g1 === 0xff9b) return g2 === 1 || isBlockedIpv4(embeddedV4);
  // 2002::/16 is 6to4, with the IPv4 address in the second and third groups.
  if (g0 === 0x2002) return isBlockedIpv4(g1 * 0x10000 + g2);

  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return true; // discard-only
  if (g0 === 0x2001 && g1 === 0xdb8) return true; // documentation
  if ((g0 & 0xfe00) === 0xfc00) return true; // unique local
  if ((g0 & 0xffc0) === 0xfe80) return true; // link-local
  if ((g0 & 0xffc0) === 0xfec0) return true; // site-local (deprecated)
  if ((g0 & 0xff00) === 0xff00) return true; // multicast
  return false;
}

function parseIpv4Part(part: string): number | null {
  if (/^0x[0-9a-f]*$/i.test(part)) return part.length === 2 ? 0 : Number.parseInt(part.slice(2), 16);
  if (/^0[0-7]+$/.test(part)) return Number.parseInt(part.slice(1), 8);
  if (/^(0|[1-9]\d*)$/.test(part)) return Number(part);
  return null;
}

function parseGroups(text: string): number[] | null {
  if (text === "") return [];
  const groups: number[] = [];
  for (const group of text.split(":")) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return null;
    groups.push(Number.parseInt(group, 16));
  }
  return groups;
}
