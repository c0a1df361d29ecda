import type { Logger } from "../telemetry/logger.ts";
import type { TelemetryKind } from "./protocol.ts";
import type { WorkerConnection } from "./worker-connection.ts";

/**
 * Receives the OTLP/JSON telemetry frames that SDKs send as binary frames
 * prefixed with `OTLP` (spans), `MTRC` (metrics) or `LOGS` (log records).
 * `payload` is the JSON after the 4-byte prefix. Must not throw.
 */
export interface TelemetrySink {
  ingest(kind: TelemetryKind, payload: Uint8Array, worker: WorkerConnection): void;
}

/** Creates the sink used while no observability module is loaded, which drops frames with a debug log. */
export function createDroppingSink(logger: Logger): TelemetrySink {
  return {
    ingest(kind, payload, worker) {
      logger.debug(`dropped ${kind} telemetry frame of ${payload.length} bytes from worker '${worker.id}'; no observability module is loaded`);
    },
  };
}
