import { EngineError } from "../../core/errors.ts";
import type { BuiltinHandler } from "../../core/function-registry.ts";
import type { RegisterFunctionMessage } from "../../core/protocol.ts";
import type { ExternalFunctionProvider } from "../../core/worker-protocol.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { EngineContext, EngineModule, ModuleFactory } from "../module.ts";
import { parseHttpFunctionsConfig, type HttpFunctionsConfig } from "./config.ts";
import { HttpFunction } from "./http-function.ts";
import { parseInvocation } from "./invocation.ts";
import { UrlPolicy, type HostLookup } from "./url-policy.ts";

export { HttpFunction, HttpFunctionError, applyAuth } from "./http-function.ts";
export { parseInvocation, DEFAULT_HTTP_TIMEOUT_MS, MAX_HTTP_TIMEOUT_MS, type HttpInvocation, type HttpAuth } from "./invocation.ts";
export { UrlPolicy, URL_VALIDATION_FAILED, describeUrl, type HostLookup } from "./url-policy.ts";
export { isBlockedAddress, parseIpv4, parseIpv6 } from "./ip-address.ts";
export { parseHttpFunctionsConfig, type HttpFunctionsConfig, type SecurityConfig } from "./config.ts";

export const httpFunctionsModuleFactory: ModuleFactory = {
  className: "modules::http_functions::HttpFunctionsModule",
  summary: "functions served by external HTTP endpoints, registered with an invocation block",
  create(config, path, environment): EngineModule {
    return new HttpFunctionsModule(parseHttpFunctionsConfig(config, path), environment.env);
  },
};

/**
 * Lets workers register functions that the engine serves by calling an HTTP
 * endpoint. A registration is rejected (logged by the engine) when its URL
 * breaks the security rules or an auth environment variable is missing.
 */
export class HttpFunctionsModule implements EngineModule, ExternalFunctionProvider {
  readonly className = httpFunctionsModuleFactory.className;
  readonly #env: Record<string, string | undefined>;
  readonly #policy: UrlPolicy;
  readonly #inFlight = new Set<AbortController>();
  #context: EngineContext | null = null;
  #logger: Logger | null = null;

  constructor(config: HttpFunctionsConfig, env: Record<string, string | undefined>, hostLookup?: HostLookup) {
    this.#env = env;
    this.#policy = new UrlPolicy(config.security, hostLookup);
  }

  async start(context: EngineContext): Promise<void> {
    this.#context = context;
    this.#logger = context.createLogger("http-functions");
    context.setExternalFunctionProvider(this);
  }

  async stop(): Promise<void> {
    this.#context?.setExternalFunctionProvider(null);
    this.#context = null;
    for (const controller of this.#inFlight) controller.abort(new EngineError("http_request_failed", "the engine is stopping"));
    this.#inFlight.clear();
  }

  async create(message: RegisterFunctionMessage): Promise<BuiltinHandler> {
    const invocation = parseInvocation(message.invocation ?? {}, message.id, this.#env);
    await this.#policy.check(invocation.url);

    const httpFunction = new HttpFunction({
      id: message.id,
      invocation,
      policy: this.#policy,
      logger: this.#logger!,
      inFlight: this.#inFlight,
    });
    return (data, call) => httpFunction.invoke(data, call);
  }
}
