import { Glob } from "bun";
import { lookup } from "node:dns/promises";
import { EngineError } from "../../core/errors.ts";
import type { SecurityConfig } from "./config.ts";
import { isBlockedAddress } from "./ip-address.ts";

export const URL_VALIDATION_FAILED = "url_validation_failed";

/** Resolves a host name to every address it has, like `dns.promises.lookup(host, {all: true})`. */
export type HostLookup = (host: string) => Promise<Array<{ address: string; family: number }>>;

const systemLookup: HostLookup = (host) => lookup(host, { all: true });

/**
 * Checks external function URLs against the security config: scheme, host
 * allowlist and, when private addresses are blocked, the host's IP address or
 * every address its name resolves to. Runs at registration and before each call.
 */
export class UrlPolicy {
  readonly #config: SecurityConfig;
  readonly #allowlist: Glob[];
  readonly #lookup: HostLookup;

  constructor(config: SecurityConfig, hostLookup: HostLookup = systemLookup) {
    this.#config = config;
    this.#allowlist = config.urlAllowlist.map((pattern) => new Glob(pattern.toLowerCase()));
    this.#lookup = hostLookup;
  }

  /** Returns the parsed URL, or throws `url_validation_failed` saying which rule it breaks. */
  async check(rawUrl: string): Promise<URL> {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      // The text is not echoed, because a URL that does not parse may still contain credentials.
      throw new EngineError(URL_VALIDATION_FAILED, "invalid URL; expected an absolute http or https URL such as 'https://api.example.com/fn'");
    }
    const shown = describeUrl(url);

    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new EngineError(URL_VALIDATION_FAILED, `URL '${shown}' uses '${url.protocol}'; only http and https are supported`);
    }
    if (this.#config.requireHttps && url.protocol !== "https:") {
      throw new EngineError(URL_VALIDATION_FAILED, `URL '${shown}' is not https; use https or set security.require_https to false`);
    }

    const host = bareHost(url.hostname);
    if (!this.#allowlist.some((glob) => glob.match(host))) {
      throw new EngineError(URL_VALIDATION_FAILED, `host '${host}' of URL '${shown}' is not in security.url_allowlist`);
    }
    if (this.#config.blockPrivateIps) await this.#checkAddresses(host, shown);
    return url;
  }

  async #checkAddresses(host: string, shown: string): Promise<void> {
    const literal = isBlockedAddress(host);
    if (literal === true) throw privateAddress(shown, `'${host}'`);
    if (literal === false) return;

    let addresses: Array<{ address: string }>;
    try {
      addresses = await this.#lookup(host);
    } catch (error) {
      throw new EngineError(URL_VALIDATION_FAILED, `cannot resolve host '${host}' of URL '${shown}': ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (addresses.length === 0) throw new EngineError(URL_VALIDATION_FAILED, `host '${host}' of URL '${shown}' has no addresses`);

    // An address that is not recognisable as an IP address is rejected too.
    const blocked = addresses.find(({ address }) => isBlockedAddress(address) !== false);
    if (blocked) throw privateAddress(shown, `'${host}' resolves to '${blocked.address}'`);
  }
}

/** Formats a URL for messages and logs without credentials, query or fragment, which may carry secrets. */
export function describeUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function bareHost(hostname: string): string {
  const host = hostname.toLowerCase();
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

function privateAddress(shown: string, detail: string): EngineError {
  return new EngineError(
    URL_VALIDATION_FAILED,
    `URL '${shown}' points at a private, loopback or reserved address (${detail}); ` +
      "use a public address or set security.block_private_ips to false",
  );
}
