import { createHash, timingSafeEqual } from "node:crypto";
import { ConfigError } from "./errors.ts";
import { expectObject, joinPath, readStringList, rejectUnknownKeys } from "../config/schema.ts";
import type { Logger } from "../telemetry/logger.ts";

/** Accepted worker tokens, from the top-level `auth` block; absent means no authentication. */
export interface AuthConfig {
  tokens: string[];
}

/** Decides whether an upgrade request may connect; returns the rejection response, or null to accept. */
/** Checks an upgrade request on a listener such as "worker" or "stream". Returns null to accept it, or the rejection to send. */
export type UpgradeGuard = (request: Request, address: string, listener: string) => Response | null;

const MIN_TOKEN_LENGTH = 16;

/**
 * Reads `auth: {tokens: [...], token_env: [...]}`. Tokens usually come from
 * `${VAR}` placeholders; `token_env` names variables to read directly.
 */
export function parseAuthConfig(raw: unknown, env: Record<string, string | undefined>): AuthConfig | null {
  if (raw === undefined || raw === null) return null;
  const path = "auth";
  const config = expectObject(raw, path);
  rejectUnknownKeys(config, ["tokens", "token_env"], path);

  const tokens = readStringList(config, "tokens", path, []);
  for (const name of readStringList(config, "token_env", path, [])) {
    const value = env[name];
    if (value === undefined || value === "") {
      throw new ConfigError(`${joinPath(path, "token_env")}: environment variable '${name}' is not set; export it or remove it from the list`);
    }
    tokens.push(value);
  }
  if (tokens.length === 0) {
    throw new ConfigError(`${path}: expected at least one token in 'tokens' or 'token_env'; remove the auth block to allow any worker`);
  }
  tokens.forEach((token, index) => {
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new ConfigError(
        `${joinPath(joinPath(path, "tokens"), index)}: token is ${token.length} characters long; use at least ${MIN_TOKEN_LENGTH}`,
      );
    }
  });
  return { tokens };
}

/**
 * Builds a guard that accepts a request carrying one of the tokens, as
 * `?token=...` in the URL or `Authorization: Bearer ...`. Rejections get 401
 * and a warning with the remote address; the token is never logged.
 */
export function createTokenGuard(config: AuthConfig, logger: Logger): UpgradeGuard {
  const digests = config.tokens.map(digest);
  return (request, address, listener) => {
    const presented = presentedToken(request);
    if (presented !== null && digests.some((expected) => timingSafeEqual(expected, digest(presented)))) return null;

    const why = presented === null ? "no token" : "a token that is not accepted";
    logger.warn(`rejected ${listener} connection from ${address}: it presented ${why}`);
    return new Response("unauthorized: present a worker token as ?token= or an Authorization: Bearer header", {
      status: 401,
      headers: { "www-authenticate": 'Bearer realm="iii"' },
    });
  };
}

function presentedToken(request: Request): string | null {
  const header = request.headers.get("authorization");
  if (header?.toLowerCase().startsWith("bearer ")) return header.slice(7).trim();
  const query = new URL(request.url).searchParams.get("token");
  return query === null || query === "" ? null : query;
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
