/**
 * Error codes the engine puts on the wire, spelled exactly as workers see them
 * in `invocationresult.error.code`.
 */
export const ErrorCode = {
  functionNotFound: "function_not_found",
  invocationStopped: "invocation_stopped",
  invocationError: "invocation_error",
  invocationFailed: "invocation_failed",
  serializationError: "serialization_error",
  deserializationError: "deserialization_error",
  topicNotSet: "topic_not_set",
  memoryExporterNotEnabled: "memory_exporter_not_enabled",
  triggerRegistrationFailed: "trigger_registration_failed",
  triggerTypeNotFound: "trigger_type_not_found",
  backendUnavailable: "backend_unavailable",
  limitExceeded: "limit_exceeded",
  configInvalid: "config_invalid",
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The `{code, message}` object carried by `invocationresult.error`. */
export interface WireError {
  code: string;
  message: string;
}

/**
 * Base of everything the engine throws. `code` is stable and sent to workers
 * as is; modules may use their own codes (for example `SET_ERROR`).
 */
export class EngineError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EngineError";
    this.code = code;
  }

  toWire(): WireError {
    return { code: this.code, message: this.message };
  }
}

/** A config file problem; the message starts with the YAML path of the value. */
export class ConfigError extends EngineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.configInvalid, message, options);
    this.name = "ConfigError";
  }
}

/** Converts anything caught into the wire error shape, keeping coded errors as they are. */
export function toWireError(error: unknown, fallbackCode: string = ErrorCode.invocationFailed): WireError {
  if (error instanceof EngineError) return error.toWire();
  if (error instanceof Error) return { code: fallbackCode, message: error.message };
  return { code: fallbackCode, message: String(error) };
}
