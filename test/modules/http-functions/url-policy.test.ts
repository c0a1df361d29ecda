import { describe, expect, test } from "bun:test";
import { UrlPolicy, type HostLookup, type SecurityConfig } from "../../../src/modules/http-functions/index.ts";

const strict: SecurityConfig = { urlAllowlist: ["*"], blockPrivateIps: true, requireHttps: true };

function lookupReturning(...addresses: string[]): HostLookup & { hosts: string[] } {
  const hosts: string[] = [];
  const lookup = async (host: string) => {
    hosts.push(host);
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(lookup, { hosts });
}

async function rejection(policy: UrlPolicy, url: string): Promise<{ code: string; message: string }> {
  try {
    await policy.check(url);
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error(`expected '${url}' to be rejected`);
}

describe("UrlPolicy", () => {
  test("rejects plain http when https is required", async () => {
    const error = await rejection(new UrlPolicy(strict, lookupReturning("93.184.215.14")), "http://example.com/fn");
    expect(error.code).toBe("url_validation_failed");
    expect(error.message).toContain("is not https");
  });

  test("rejects other schemes and invalid URLs", async () => {
    const policy = new UrlPolicy({ ...strict, requireHttps: false }, lookupReturning("93.184.215.14"));
    expect((await rejection(policy, "ftp://example.com/")).message).toContain("only http and https");
    expect((await rejection(policy, "not a url")).message).toContain("invalid URL; expected an absolute http or https URL");
  });

  test("matches the allowlist against the host", async () => {
    const policy = new UrlPolicy({ ...strict, urlAllowlist: ["*.example.com", "api.partner.io"] }, lookupReturning("93.184.215.14"));
    await policy.check("https://fn.example.com/run");
    await policy.check("https://API.partner.io/run");
    expect((await rejection(policy, "https://example.org/run")).message).toContain("host 'example.org'");
    expect((await rejection(policy, "https://partner.io/run")).message).toContain("not in security.url_allowlist");
  });

  test("rejects literal private addresses in every spelling", async () => {
    const lookup = lookupReturning("93.184.215.14");
    const policy = new UrlPolicy(strict, lookup);
    const urls = [
      "https://127.0.0.1/",
      "https://127.1/",
      "https://2130706433/",
      "https://0x7f000001/",
      "https://0177.0.0.1/",
      "https://0.0.0.0/",
      "https://0/",
      "https://[::1]/",
      "https://[::]/",
      "https://[::ffff:127.0.0.1]/",
      "https://[0:0:0:0:0:ffff:7f00:1]/",
      "https://169.254.169.254/latest/meta-data",
      "https://[fd00::1]/",
    ];
    for (const url of urls) {
      const error = await rejection(policy, url);
      expect(error.code).toBe("url_validation_failed");
      expect(error.message).toContain("private, loopback or reserved");
    }
    expect(lookup.hosts).toEqual([]);
  });

  test("rejects names that resolve to a private address", async () => {
    const policy = new UrlPolicy(strict, lookupReturning("93.184.215.14", "10.0.0.7"));
    const error = await rejection(policy, "https://mixed.example.com/");
    expect(error.message).toContain("'mixed.example.com' resolves to '10.0.0.7'");
  });

  test("resolves localhost through DNS", async () => {
    const policy = new UrlPolicy(strict);
    expect((await rejection(policy, "https://localhost/")).message).toContain("'localhost' resolves to");
  });

  test("rejects names that do not resolve", async () => {
    const failing: HostLookup = async () => {
      throw new Error("getaddrinfo ENOTFOUND");
    };
    expect((await rejection(new UrlPolicy(strict, failing), "https://nowhere.invalid/")).message).toContain("cannot resolve host 'nowhere.invalid'");
    expect((await rejection(new UrlPolicy(strict, lookupReturning()), "https://empty.example/")).message).toContain("has no addresses");
  });

  test("skips address checks when blocking is off", async () => {
    const lookup = lookupReturning("127.0.0.1");
    const policy = new UrlPolicy({ urlAllowlist: ["*"], blockPrivateIps: false, requireHttps: false }, lookup);
    await policy.check("http://127.0.0.1:8080/fn");
    await policy.check("http://localhost:8080/fn");
    expect(lookup.hosts).toEqual([]);
  });

  test("keeps credentials and query out of messages", async () => {
    const error = await rejection(new UrlPolicy(strict), "http://user:hunter2@example.com/fn?token=abc");
    expect(error.message).toContain("'http://example.com/fn'");
    expect(error.message).not.toContain("hunter2");
    expect(error.message).not.toContain("abc");
  });
});
