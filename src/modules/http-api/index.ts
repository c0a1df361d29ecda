import type { Server } from "bun";
import type { DataChannel } from "../../core/channels.ts";
import { EngineError, ErrorCode } from "../../core/errors.ts";
import { formatHost } from "../../core/engine.ts";
import type { InvocationOutcome } from "../../core/router.ts";
import type { Trigger } from "../../core/trigger-registry.ts";
import type { Logger } from "../../telemetry/logger.ts";
import { isJsonObject, type JsonValue } from "../../util/json.ts";
import { Semaphore } from "../../util/semaphore.ts";
import type { EngineContext, EngineModule, ModuleFactory } from "../module.ts";
import { parseHttpApiConfig, type HttpApiConfig } from "./config.ts";
import { decodeParams, decodeQuery, MalformedEscapeError, parseBody, readBody, splitRequestUrl, type RequestTarget } from "./request.ts";
import { applyCors, applyHeaders, preflightResponse, resultToResponse } from "./response.ts";
import { HTTP_METHODS, RouteTable, type HttpMethod, type RouteClaim } from "./route-table.ts";

export const restApiModuleFactory: ModuleFactory = {
  className: "modules::api::RestApiModule",
  summary: "HTTP routes bound to functions through http triggers (port 3111)",
  create(config, path): EngineModule {
    return new RestApiModule(parseHttpApiConfig(config, path));
  },
};

const RESPONSE_CHANNEL_CAPACITY = 64;
const EMPTY_BODY = new Uint8Array(0);
const CONDITION_NOT_MET = JSON.stringify({ error: "Request condition not met", skipped: true });

type RaceResult = { kind: "outcome"; outcome: InvocationOutcome } | { kind: "stream" } | { kind: "timeout" };

/** Serves HTTP routes that `http` triggers bind to functions; routes change live as triggers come and go. */
class RestApiModule implements EngineModule {
  readonly className = restApiModuleFactory.className;
  readonly #config: HttpApiConfig;
  readonly #routes = new RouteTable();
  /** One concurrency limit per route (method and path), as in the reference engine, where the limit sits on each route. */
  readonly #limiters = new Map<string, Semaphore>();
  /** Requests in progress or waiting for their route's limit, across all routes. */
  #pending = 0;
  #context: EngineContext | null = null;
  #logger: Logger | null = null;
  #server: Server<unknown> | null = null;
  #rejectedRequests = 0;

  constructor(config: HttpApiConfig) {
    this.#config = config;
  }

  async start(context: EngineContext): Promise<void> {
    this.#context = context;
    this.#logger = context.createLogger("http");
    await context.registerTriggerType("http", "HTTP route bound to a function", {
      register: (trigger) => this.#addRoute(trigger),
      unregister: (trigger) => {
        const claim = this.#routes.remove(trigger.id);
        if (claim) this.#logger?.debug(`removed route ${claim.method} /${stripSlash(claim.path)}`);
      },
    });

    this.#server = context.listen({
      label: "HTTP API",
      host: this.#config.host,
      port: this.#config.port,
      // Bun rejects larger bodies itself, and the module returns 413 for bodies over the limit below that.
      maxRequestBodySize: this.#config.bodyLimitBytes + 1,
      fetch: (request, server) => this.#handle(request, server),
    });
    this.#logger.info(`HTTP API listening at http://${formatHost(this.#config.host)}:${this.#server.port}`);
  }

  async stop(): Promise<void> {
    this.#server?.stop(true);
    this.#server = null;
  }

  get port(): number {
    return this.#server?.port ?? 0;
  }

  #addRoute(trigger: Trigger): void {
    const config = isJsonObject(trigger.config) ? trigger.config : {};
    const path = config.api_path;
    if (typeof path !== "string" || path === "") {
      throw new EngineError(ErrorCode.triggerRegistrationFailed, `http trigger '${trigger.id}' needs a string 'api_path' such as 'users/:id'`);
    }
    const rawMethod = config.http_method ?? "GET";
    const method = typeof rawMethod === "string" ? rawMethod.toUpperCase() : "";
    if (!(HTTP_METHODS as readonly string[]).includes(method)) {
      throw new EngineError(
        ErrorCode.triggerRegistrationFailed,
        `http trigger '${trigger.id}' has http_method '${String(rawMethod)}'; expected one of ${HTTP_METHODS.join(", ")}`,
      );
    }
    const condition = config._condition_path;
    this.#routes.add({
      triggerId: trigger.id,
      functionId: trigger.function_id,
      conditionFunctionId: typeof condition === "string" && condition !== "" ? condition : undefined,
      path,
      method: method as HttpMethod,
    });
    this.#logger?.debug(`added route ${method} /${stripSlash(path)} -> '${trigger.function_id}'`);
  }

  async #handle(request: Request, server: Server<unknown>): Promise<Response> {
    const startedAt = performance.now();
    const url = splitRequestUrl(request.url);
    const method = request.method.toUpperCase();
    const match = this.#routes.match(method, url.pathname);
    const origin = request.headers.get("origin");

    let response: Response;
    let route: string | null = null;
    if (method === "OPTIONS" && origin && request.headers.has("access-control-request-method") && match.type !== "not_found") {
      response = preflightResponse(this.#config.cors, request);
    } else if (match.type === "not_found") {
      response = new Response(null, { status: 404 });
    } else if (match.type === "method_not_allowed") {
      response = new Response(null, { status: 405, headers: { allow: match.allow.join(", ") } });
    } else {
      route = match.claim.path;
      response = await this.#serveRoute(request, server, url, match.claim, match.params);
    }

    applyCors(response.headers, this.#config.cors, origin);
    this.#context?.events.emit("http_request_completed", {
      method,
      route,
      status: response.status,
      durationMs: performance.now() - startedAt,
    });
    return response;
  }

  async #serveRoute(
    request: Request,
    server: Server<unknown>,
    url: RequestTarget,
    claim: RouteClaim,
    rawParams: Record<string, string>,
  ): Promise<Response> {
    const headers = this.#readHeaders(request);
    if (headers instanceof Response) return headers;

    let pathParams: Record<string, string>;
    let queryParams: Record<string, string>;
    try {
      pathParams = decodeParams(rawParams);
      queryParams = decodeQuery(url.search);
    } catch (error) {
      if (!(error instanceof MalformedEscapeError)) throw error;
      return textResponse(400, `${error.message}; escape '%' as '%25'`);
    }

    const declaredLength = Number(request.headers.get("content-length") ?? "0");
    if (declaredLength > this.#config.bodyLimitBytes) return this.#tooLarge();
    const bytes = request.body === null ? EMPTY_BODY : await readBody(request, this.#config.bodyLimitBytes);
    if (bytes === null) return this.#tooLarge();

    if (this.#pending >= this.#config.maxPendingRequests) {
      this.#rejectedRequests++;
      if (this.#rejectedRequests === 1 || this.#rejectedRequests % 1000 === 0) {
        this.#logger?.warn(
          `rejected a request: ${this.#config.maxPendingRequests} requests are in progress or waiting (max_pending_requests); ${this.#rejectedRequests} rejected so far`,
        );
      }
      return textResponse(503, `too many requests in progress; raise max_pending_requests or retry later`);
    }
    const routeKey = `${claim.method} ${claim.path}`;
    let limiter = this.#limiters.get(routeKey);
    if (!limiter) {
      limiter = new Semaphore(this.#config.concurrencyRequestLimit);
      this.#limiters.set(routeKey, limiter);
    }
    this.#pending++;
    const waiting = limiter.acquire();
    // The module's own default_timeout bounds the request, not Bun's idle timer.
    server.timeout(request, 0);
    try {
      if (waiting) await waiting;
      return await this.#invokeRoute(request, url, claim, {
        query_params: queryParams,
        path_params: pathParams,
        headers,
        path: claim.path,
        method: request.method.toUpperCase(),
        body: parseBody(request.headers.get("content-type"), bytes, this.#logger!),
        trigger: { type: "http", path: claim.path, method: claim.method },
      }, bytes);
    } finally {
      limiter.release();
      this.#pending--;
      if (limiter.active === 0 && limiter.waiting === 0) this.#limiters.delete(routeKey);
    }
  }

  async #invokeRoute(
    request: Request,
    url: RequestTarget,
    claim: RouteClaim,
    input: { [key: string]: JsonValue },
    bytes: Uint8Array,
  ): Promise<Response> {
    const context = this.#context!;
    const headers = input.headers as Record<string, string>;
    const recording = context.tracing.recording;
    const span = context.tracing.startSpan({
      name: `${claim.method} ${claim.path}`,
      kind: "server",
      traceparent: headers.traceparent,
      baggage: headers.baggage,
      attributes: recording
        ? {
            "http.request.method": request.method,
            "http.route": claim.path,
            "url.path": url.pathname,
            "url.query": url.search.slice(1),
            "url.scheme": headers["x-forwarded-proto"] ?? "http",
            "http.request.body.size": bytes.length,
          }
        : undefined,
    });
    const trace = { traceparent: span.traceparent, baggage: span.baggage };

    if (claim.conditionFunctionId) {
      const verdict = await context.invoke(claim.conditionFunctionId, input, trace);
      if (verdict.type === "failure") return this.#failed(claim, verdict.error, span);
      if (verdict.result === false) {
        span.setAttribute("http.response.status_code", 422);
        span.end();
        return new Response(CONDITION_NOT_MET, { status: 422, headers: { "content-type": "application/json" } });
      }
    }

    const requestChannel = context.channels.create(RESPONSE_CHANNEL_CAPACITY);
    const responseChannel = context.channels.create(RESPONSE_CHANNEL_CAPACITY);
    // An empty body adds no item, so the reader sees the channel close at once.
    if (bytes.length > 0) requestChannel.push(bytes);
    requestChannel.closeWriter();
    input.request_body = requestChannel.ref("read") as unknown as JsonValue;
    input.response = responseChannel.ref("write") as unknown as JsonValue;

    let streaming = false;
    try {
      const race = await this.#awaitResult(context.invoke(claim.functionId, input, trace), responseChannel);
      if (race.kind === "timeout") {
        span.setAttribute("http.response.status_code", 504);
        span.end({ code: "timeout", message: `no response within ${this.#config.defaultTimeoutMs} ms` });
        return new Response(null, { status: 504 });
      }
      if (race.kind === "outcome" && race.outcome.type === "failure") return this.#failed(claim, race.outcome.error, span);

      const result = race.kind === "outcome" && race.outcome.type === "success" ? race.outcome.result : undefined;
      let response: Response;
      if (result !== undefined) response = resultToResponse(result, request.method.toUpperCase(), this.#logger!);
      else if (race.kind === "stream" || responseChannel.writerTaken) {
        streaming = true;
        response = await this.#streamResponse(responseChannel, request.method.toUpperCase());
      } else response = new Response(null, { status: 204 });

      span.setAttribute("http.response.status_code", response.status);
      span.end();
      return response;
    } finally {
      // A streaming handler may still read the request body; the channel goes once it is drained, or with the sweep.
      if (!streaming) {
        context.channels.remove(requestChannel);
        context.channels.remove(responseChannel);
      }
    }
  }

  /** Resolves with whichever comes first: the function's outcome, streamed response data, or the timeout. */
  #awaitResult(invocation: Promise<InvocationOutcome>, responseChannel: DataChannel): Promise<RaceResult> {
    return new Promise<RaceResult>((resolve) => {
      let settled = false;
      const finish = (result: RaceResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const timer = setTimeout(() => finish({ kind: "timeout" }), this.#config.defaultTimeoutMs);
      void invocation.then((outcome) => finish({ kind: "outcome", outcome }));
      responseChannel.onReady(() => finish({ kind: "stream" }));
    });
  }

  /** Builds a response from the response channel: text items set status and headers, binary items are the body. */
  async #streamResponse(channel: DataChannel, method: string): Promise<Response> {
    const context = this.#context!;
    let status = 200;
    const headers = new Headers();
    for (let item = await channel.read(); item !== null; item = await channel.read()) {
      if (typeof item === "string") {
        const control = parseControl(item);
        if (control?.type === "set_status" && typeof control.status_code === "number") status = control.status_code;
        if (control?.type === "set_headers") applyHeaders(headers, control.headers, this.#logger!);
        continue;
      }
      const first = item;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(first);
        },
        async pull(controller) {
          for (let next = await channel.read(); next !== null; next = await channel.read()) {
            if (typeof next === "string") continue;
            controller.enqueue(next);
            return;
          }
          context.channels.remove(channel);
          controller.close();
        },
        cancel() {
          context.channels.remove(channel);
        },
      });
      return new Response(method === "HEAD" ? null : body, { status, headers });
    }
    context.channels.remove(channel);
    return new Response(null, { status, headers });
  }

  #failed(claim: RouteClaim, error: { code: string; message: string }, span: { setAttribute(k: string, v: number): void; end(e?: { code: string; message: string }): void }): Response {
    const errorId = Date.now().toString(16) + Math.floor(Math.random() * 0xffff).toString(16).padStart(4, "0");
    this.#logger?.error(
      `${claim.method} /${stripSlash(claim.path)} failed (error_id ${errorId}): function '${claim.functionId}' returned ${error.code}: ${error.message}`,
    );
    span.setAttribute("http.response.status_code", 500);
    span.end(error);
    return new Response(JSON.stringify({ error: "internal server error", error_id: errorId }), {
      status: 500,
      headers: { "content-type": "application/json" },
    });
  }

  /** Collects the headers with lower-case names, or returns 431 when they pass the count or size limit. */
  #readHeaders(request: Request): Record<string, string> | Response {
    const headers: Record<string, string> = {};
    let count = 0;
    let bytes = 0;
    // NOTE: Bun joins a repeated request header into one comma-separated value, so the last one does not win.
    request.headers.forEach((value, name) => {
      headers[name] = decodeHeaderValue(value);
      count++;
      bytes += name.length + value.length + 4;
    });
    if (count > this.#config.maxHeaderCount) {
      return textResponse(431, `request has ${count} headers; the limit is ${this.#config.maxHeaderCount} (max_header_count)`);
    }
    if (bytes > this.#config.maxHeaderBytes) {
      return textResponse(431, `request headers take ${bytes} bytes; the limit is ${this.#config.maxHeaderBytes} (max_header_bytes)`);
    }
    return headers;
  }

  #tooLarge(): Response {
    return textResponse(413, `request body is larger than the ${this.#config.bodyLimitBytes}-byte limit (body_limit)`);
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Returns a header value as UTF-8 text. Bun gives each byte as one character (Latin-1),
 * so values with bytes above 0x7F are decoded again; bytes that are not UTF-8 give "".
 */
function decodeHeaderValue(value: string): string {
  if (!/[\u0080-\u00ff]/.test(value)) return value;
  try {
    return UTF8.decode(Uint8Array.from(value, (char) => char.charCodeAt(0)));
  } catch {
    return "";
  }
}

function parseControl(text: string): { [key: string]: JsonValue } | null {
  try {
    const value = JSON.parse(text) as JsonValue;
    return isJsonObject(value) ? value : null;
  } catch {
    return null;
  }
}

function textResponse(status: number, message: string): Response {
  return new Response(JSON.stringify({ error: message }), { status, headers: { "content-type": "application/json" } });
}

function stripSlash(path: string): string {
  return path.startsWith("/") ? path.slice(1) : path;
}
