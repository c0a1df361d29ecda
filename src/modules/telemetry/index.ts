import { expectObject } from "../../config/schema.ts";
import type { EngineModule, ModuleFactory } from "../module.ts";

/**
 * Accepts the product-analytics module's class and keys so existing config files
 * load, and does nothing: the engine sends no telemetry to third parties.
 */
export const telemetryModuleFactory: ModuleFactory = {
  className: "modules::telemetry::TelemetryModule",
  summary: "accepted for compatibility; sends nothing",
  create(config, path): EngineModule {
    expectObject(config, path);
    return {
      className: this.className,
      async start() {},
      async stop() {},
    };
  },
};
