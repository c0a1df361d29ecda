import { describe, expect, test } from "bun:test";
import { isBlockedAddress, parseIpv4, parseIpv6 } from "../../../src/modules/http-functions/index.ts";

describe("parseIpv4", () => {
  const loopback = 0x7f000001;
  const spellings = ["127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0X7F.0.0.1", "0177.0.0.1", "0x7f.1", "127.0.0.1."];
  for (const spelling of spellings) {
    test(`reads ${spelling} as 127.0.0.1`, () => {
      expect(parseIpv4(spelling)).toBe(loopback);
    });
  }

  test("rejects text that is no address", () => {
    expect(parseIpv4("256.1.1.1")).toBeNull();
    expect(parseIpv4("4294967296")).toBeNull();
    expect(parseIpv4("1.2.3.4.5")).toBeNull();
    expect(parseIpv4("example.com")).toBeNull();
    expect(parseIpv4("08.0.0.1")).toBeNull();
    expect(parseIpv4("")).toBeNull();
  });
});

describe("parseIpv6", () => {
  test("expands :: and a dotted tail", () => {
    expect(parseIpv6("::1")).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIpv6("[::]")).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIpv6("::ffff:127.0.0.1")).toEqual([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]);
    expect(parseIpv6("fe80::1%eth0")).toEqual([0xfe80, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIpv6("1:2:3:4:5:6:7:8")).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("rejects malformed text", () => {
    expect(parseIpv6("1::2::3")).toBeNull();
    expect(parseIpv6("1:2:3:4:5:6:7:8:9")).toBeNull();
    expect(parseIpv6("12345::")).toBeNull();
    expect(parseIpv6("::ffff:1.2.3")).toBeNull();
    expect(parseIpv6("127.0.0.1")).toBeNull();
  });
});

describe("isBlockedAddress", () => {
  const blocked = [
    "127.0.0.1",
    "0.0.0.0",
    "0",
    "10.1.2.3",
    "100.64.0.1",
    "169.254.169.254",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "192.0.2.1",
    "198.18.0.1",
    "224.0.0.1",
    "255.255.255.255",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "::",
    "::1",
    "[::1]",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::ffff:10.0.0.1",
    "64:ff9b::7f00:1",
    "2002:c0a8:101::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "2001:db8::1",
  ];
  for (const address of blocked) {
    test(`blocks ${address}`, () => {
      expect(isBlockedAddress(address)).toBe(true);
    });
  }

  const allowed = ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "9.255.255.255", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"];
  for (const address of allowed) {
    test(`allows ${address}`, () => {
      expect(isBlockedAddress(address)).toBe(false);
    });
  }

  test("returns null for host names", () => {
    expect(isBlockedAddress("example.com")).toBeNull();
    expect(isBlockedAddress("localhost")).toBeNull();
  });
});
