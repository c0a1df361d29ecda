import { createHmac } from "node:crypto";
import { EngineError } from "../../core/errors.ts";
import type { CallContext } from "../../core/function-registry.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isJsonObject, parseJson, stringifyJson, type JsonValue } from "../../util/json.ts";
import type { HttpAuth, HttpInvocation } from "./invocation.ts";
import { describeUrl, type UrlPolicy } from "./url-policy.ts";

/** Error codes of external HTTP function calls, as workers see them. */
export const HttpFunctionError = {
  requestFailed: "http_request_failed",
  responseFailed: "http_response_failed",
  invalidResponse: "invalid_response",
  httpError: "http_error",
} as const;

/**
 * One external function: each call re-checks the URL, sends the input as a
 * JSON body with the `x-iii-*` headers and auth, and maps the reply. Redirects
 * are not followed; a 3xx reply is an `http_error`.
 */
export class HttpFunction {
  readonly #id: string;
  readonly #invocation: HttpInvocation;
  readonly #policy: UrlPolicy;
  readonly #logger: Logger;
  readonly #inFlight: Set<AbortController>;

  constructor(options: { id: string; invocation: HttpInvocation; policy: UrlPolicy; logger: Logger; inFlight: Set<AbortController> }) {
    this.#id = options.id;
    this.#invocation = options.invocation;
    this.#policy = options.policy;
    this.#logger = options.logger;
    this.#inFlight = options.inFlight;
  }

  /** Calls the endpoint; resolves with the parsed JSON reply, or undefined for an empty 2xx body. */
  async invoke(data: JsonValue, call: CallContext): Promise<JsonValue | undefined> {
    // Checked again at call time, because the host's DNS records may have changed since registration.
    // NOTE: fetch resolves the name again, so a record that changes within that gap is not caught
    const url = await this.#policy.check(this.#invocation.url);
    const { method, timeoutMs } = this.#invocation;
    // NOTE: fetch cannot send a body with GET, so GET functions receive no input and sign an empty body
    // The input goes out as the engine received it, `_caller_worker_id` included for worker calls.
    const body = method === "GET" ? "" : stringifyJson(data);
    const headers = this.#buildHeaders(body, call);

    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new TimeoutError(timeoutMs)), timeoutMs);
    this.#inFlight.add(controller);
    const startedAt = performance.now();
    try {
      const response = await this.#send(url, headers, body, controller.signal);
      const text = await this.#readBody(response, controller.signal);
      this.#logger.debug(
        `function '${this.#id}': ${method} ${describeUrl(url)} returned ${response.status} in ${Math.round(performance.now() - startedAt)} ms`,
      );
      return this.#mapResponse(response.status, text, url);
    } finally {
      clearTimeout(timer);
      this.#inFlight.delete(controller);
    }
  }

  #buildHeaders(body: string, call: CallContext): Headers {
    const headers = new Headers(this.#invocation.headers);
    const timestamp = Math.floor(Date.now() / 1000).toString();
    headers.set("content-type", "application/json");
    headers.set("x-iii-Function-Path", this.#id);
    headers.set("x-iii-Invocation-ID", crypto.randomUUID());
    headers.set("x-iii-Timestamp", timestamp);
    if (call.traceparent) headers.set("traceparent", call.traceparent);
    if (call.baggage) headers.set("baggage", call.baggage);
    if (this.#invocation.auth) applyAuth(headers, this.#invocation.auth, timestamp, body);
    return headers;
  }

  async #send(url: URL, headers: Headers, body: string, signal: AbortSignal): Promise<Response> {
    try {
      return await fetch(url, {
        method: this.#invocation.method,
        headers,
        body: this.#invocation.method === "GET" ? undefined : body,
        redirect: "manual",
        signal,
      });
    } catch (error) {
      throw new EngineError(HttpFunctionError.requestFailed, `function '${this.#id}': request to '${describeUrl(url)}' failed: ${reason(error, signal)}`, {
        cause: error,
      });
    }
  }

  async #readBody(response: Response, signal: AbortSignal): Promise<string> {
    try {
      return await response.text();
    } catch (error) {
      const code = signal.aborted ? HttpFunctionError.requestFailed : HttpFunctionError.responseFailed;
      throw new EngineError(code, `function '${this.#id}': reading the response failed: ${reason(error, signal)}`, { cause: error });
    }
  }

  #mapResponse(status: number, text: string, url: URL): JsonValue | undefined {
    if (status >= 200 && status < 300) {
      if (text.trim() === "") return undefined;
      try {
        return parseJson(text);
      } catch {
        throw new EngineError(
          HttpFunctionError.invalidResponse,
          `function '${this.#id}': '${describeUrl(url)}' returned ${status} with a body that is not JSON (${text.length} characters)`,
        );
      }
    }

    const remote = parseErrorBody(text);
    if (remote) throw new EngineError(remote.code, remote.message);
    throw new EngineError(HttpFunctionError.httpError, `HTTP ${status}`);
  }
}

/** Adds the auth header; HMAC signs `<timestamp>:<base64 of the body>` with SHA-256 and sends it as hex. */
export function applyAuth(headers: Headers, auth: HttpAuth, timestamp: string, body: string): void {
  switch (auth.type) {
    case "hmac": {
      const signed = `${timestamp}:${Buffer.from(body, "utf8").toString("base64")}`;
      headers.set("x-iii-Signature", `sha256=${createHmac("sha256", auth.secret).update(signed).digest("hex")}`);
      return;
    }
    case "bearer":
      headers.set("authorization", `Bearer ${auth.token}`);
      return;
    case "api_key":
      headers.set(auth.header, auth.value);
      return;
    default: {
      const unreachable: never = auth;
      return unreachable;
    }
  }
}

class TimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms (invocation.timeout_ms)`);
    this.name = "TimeoutError";
  }
}

function reason(error: unknown, signal: AbortSignal): string {
  if (signal.aborted && signal.reason instanceof Error) return signal.reason.message;
  return error instanceof Error ? error.message : String(error);
}

/** Reads `{"error": {"code", "message"}}` from an error reply, or returns null for any other body. */
function parseErrorBody(text: string): { code: string; message: string } | null {
  let value: JsonValue;
  try {
    value = parseJson(text);
  } catch {
    return null;
  }
  if (!isJsonObject(value) || !isJsonObject(value.error)) return null;
  const { code, message } = value.error;
  return typeof code === "string" && typeof message === "string" ? { code, message } : null;
}
