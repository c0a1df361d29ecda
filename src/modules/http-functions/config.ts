import { expectObject, joinPath, readBoolean, readStringList, rejectUnknownKeys } from "../../config/schema.ts";

/** Limits on the URLs that external HTTP functions may call. */
export interface SecurityConfig {
  /** Glob patterns on the URL's host name (`*.example.com`); `*` allows every host. */
  urlAllowlist: string[];
  /** Rejects URLs whose host is, or resolves to, a loopback, private, link-local or similar address. */
  blockPrivateIps: boolean;
  requireHttps: boolean;
}

export interface HttpFunctionsConfig {
  security: SecurityConfig;
}

/** Validates the module config; a missing `security` block means the strict defaults. */
export function parseHttpFunctionsConfig(raw: unknown, path: string): HttpFunctionsConfig {
  const object = expectObject(raw, path);
  rejectUnknownKeys(object, ["security"], path);

  const securityPath = joinPath(path, "security");
  const security = expectObject(object.security, securityPath);
  rejectUnknownKeys(security, ["url_allowlist", "block_private_ips", "require_https"], securityPath);

  const allowlist = readStringList(security, "url_allowlist", securityPath, []);
  return {
    security: {
      urlAllowlist: allowlist.length === 0 ? ["*"] : allowlist,
      blockPrivateIps: readBoolean(security, "block_private_ips", securityPath, true),
      requireHttps: readBoolean(security, "require_https", securityPath, true),
    },
  };
}
