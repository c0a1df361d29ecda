import { isJsonObject, isRawJson, parseJson, type JsonValue } from "../util/json.ts";
import type { WireError } from "./errors.ts";

/** Message `type` values, spelled as they are on the wire. */
export const MessageType = {
  registerFunction: "registerfunction",
  unregisterFunction: "unregisterfunction",
  registerTrigger: "registertrigger",
  unregisterTrigger: "unregistertrigger",
  registerTriggerType: "registertriggertype",
  unregisterTriggerType: "unregistertriggertype",
  triggerRegistrationResult: "triggerregistrationresult",
  invokeFunction: "invokefunction",
  invocationResult: "invocationresult",
  registerService: "registerservice",
  ping: "ping",
  pong: "pong",
  workerRegistered: "workerregistered",
} as const;

/** The `invocation` block of an external HTTP function registration, validated by its module. */
export type HttpInvocationSpec = { [key: string]: JsonValue };

export interface RegisterFunctionMessage {
  type: "registerfunction";
  id: string;
  description?: string;
  request_format?: JsonValue;
  response_format?: JsonValue;
  metadata?: JsonValue;
  invocation?: HttpInvocationSpec;
}

export interface RegisterTriggerMessage {
  type: "registertrigger";
  id: string;
  trigger_type: string;
  function_id: string;
  config: JsonValue;
}

export interface InvokeFunctionMessage {
  type: "invokefunction";
  invocation_id?: string;
  function_id: string;
  data: JsonValue;
  traceparent?: string;
  baggage?: string;
  /** `action.type` that newer SDKs send, such as "enqueue"; this engine runs every call directly. */
  action?: string;
}

export interface InvocationResultMessage {
  type: "invocationresult";
  invocation_id: string;
  function_id?: string;
  result?: JsonValue;
  error?: WireError;
  traceparent?: string;
  baggage?: string;
}

export type InboundMessage =
  | RegisterFunctionMessage
  | { type: "unregisterfunction"; id: string }
  | RegisterTriggerMessage
  | { type: "unregistertrigger"; id: string; trigger_type?: string }
  | { type: "registertriggertype"; id: string; description: string }
  | { type: "unregistertriggertype"; id: string }
  | { type: "triggerregistrationresult"; id: string; trigger_type?: string; function_id?: string; error?: WireError }
  | InvokeFunctionMessage
  | InvocationResultMessage
  | { type: "registerservice"; id: string; name?: string; description?: string }
  | { type: "ping" }
  | { type: "pong" }
  | { type: "workerregistered" };

/** A frame that could not be used, with the reason for the warning log. */
export interface RejectedFrame {
  type: "rejected";
  reason: string;
  /** Call to fail with an error result, set when the caller can be identified, so it does not wait forever. */
  failedCall?: { invocationId: string; functionId: string };
}

const UUID_PATTERN = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** Prefixes of the binary frames that carry OTLP/JSON telemetry instead of protocol messages. */
export const TELEMETRY_PREFIXES = ["OTLP", "MTRC", "LOGS"] as const;
export type TelemetryKind = (typeof TELEMETRY_PREFIXES)[number];

/** Returns the telemetry kind of a binary frame, or undefined when it is a protocol message. */
export function telemetryKindOf(frame: Uint8Array): TelemetryKind | undefined {
  if (frame.length < 4) return undefined;
  const prefix = String.fromCharCode(frame[0]!, frame[1]!, frame[2]!, frame[3]!);
  return (TELEMETRY_PREFIXES as readonly string[]).includes(prefix) ? (prefix as TelemetryKind) : undefined;
}

/**
 * Parses one text frame into a message. Unusable frames come back as
 * `rejected` with a reason; an empty or whitespace-only frame yields null.
 */
export function parseFrame(text: string): InboundMessage | RejectedFrame | null {
  // Only a frame that starts with white space can be blank; trimming every frame would copy it.
  if (text.length === 0 || (text.charCodeAt(0) <= 0x20 && text.trim() === "")) return null;

  let value: JsonValue;
  try {
    value = parseJson(text);
  } catch (error) {
    return reject(`frame is not valid JSON (${(error as Error).message})`);
  }
  if (!isJsonObject(value)) return reject("frame is not a JSON object");
  return parseMessage(value);
}

function parseMessage(value: { [key: string]: JsonValue }): InboundMessage | RejectedFrame {
  const type = value.type;
  if (typeof type !== "string") return reject("frame has no string 'type' field");

  switch (type) {
    case MessageType.registerFunction:
      return parseRegisterFunction(value);
    case MessageType.unregisterFunction:
    case MessageType.unregisterTriggerType:
      return withId(value, type, (id) => ({ type, id }));
    case MessageType.registerTrigger:
      return parseRegisterTrigger(value);
    case MessageType.unregisterTrigger:
      return withId(value, type, (id) => ({ type, id, trigger_type: optionalString(value.trigger_type) }));
    case MessageType.registerTriggerType:
      return withId(value, type, (id) => ({ type, id, description: optionalString(value.description) ?? "" }));
    case MessageType.triggerRegistrationResult:
      return withId(value, type, (id) => ({
        type,
        id,
        trigger_type: optionalString(value.trigger_type),
        function_id: optionalString(value.function_id),
        error: value.error === undefined || value.error === null ? undefined : toWireErrorShape(value.error),
      }));
    case MessageType.invokeFunction:
      return parseInvokeFunction(value);
    case MessageType.invocationResult:
      return parseInvocationResult(value);
    case MessageType.registerService:
      return withId(value, type, (id) => ({
        type,
        id,
        name: optionalString(value.name),
        description: optionalString(value.description),
      }));
    case MessageType.ping:
    case MessageType.pong:
    case MessageType.workerRegistered:
      return { type };
    default:
      return reject(`unknown message type '${type}'`);
  }
}

function parseRegisterFunction(value: { [key: string]: JsonValue }): RegisterFunctionMessage | RejectedFrame {
  const id = value.id;
  if (typeof id !== "string" || id === "") return reject("registerfunction needs a non-empty string 'id'");
  if (value.description !== undefined && value.description !== null && typeof value.description !== "string") {
    return reject(`registerfunction '${id}': 'description' must be a string`);
  }
  if (value.invocation !== undefined && value.invocation !== null && !isJsonObject(value.invocation)) {
    return reject(`registerfunction '${id}': 'invocation' must be an object`);
  }

  const message: RegisterFunctionMessage = { type: "registerfunction", id };
  if (typeof value.description === "string") message.description = value.description;
  if (value.request_format !== undefined) message.request_format = value.request_format;
  if (value.response_format !== undefined) message.response_format = value.response_format;
  if (value.metadata !== undefined) message.metadata = value.metadata;
  if (isJsonObject(value.invocation)) message.invocation = value.invocation;
  return message;
}

function parseRegisterTrigger(value: { [key: string]: JsonValue }): RegisterTriggerMessage | RejectedFrame {
  const { id, trigger_type: triggerType, function_id: functionId } = value;
  if (typeof id !== "string" || id === "") return reject("registertrigger needs a non-empty string 'id'");
  if (typeof triggerType !== "string" || triggerType === "") {
    return reject(`registertrigger '${id}' needs a string 'trigger_type'`);
  }
  if (typeof functionId !== "string" || functionId === "") {
    return reject(`registertrigger '${id}' needs a string 'function_id'`);
  }
  const config = value.config === undefined || value.config === null ? {} : value.config;
  return { type: "registertrigger", id, trigger_type: triggerType, function_id: functionId, config };
}

function parseInvokeFunction(value: { [key: string]: JsonValue }): InvokeFunctionMessage | RejectedFrame {
  const functionId = value.function_id;
  if (typeof functionId !== "string" || functionId === "") return reject("invokefunction needs a string 'function_id'");

  const invocationId = value.invocation_id;
  if (invocationId !== undefined && invocationId !== null) {
    if (typeof invocationId !== "string" || !UUID_PATTERN.test(invocationId)) {
      const reason = `invokefunction '${functionId}': 'invocation_id' must be a UUID string, got ${JSON.stringify(invocationId)}`;
      if (typeof invocationId !== "string") return reject(reason);
      return { type: "rejected", reason, failedCall: { invocationId, functionId } };
    }
  }

  const message: InvokeFunctionMessage = {
    type: "invokefunction",
    function_id: functionId,
    data: value.data === undefined ? null : value.data,
  };
  if (typeof invocationId === "string") message.invocation_id = invocationId;
  const traceparent = optionalString(value.traceparent);
  const baggage = optionalString(value.baggage);
  if (traceparent) message.traceparent = traceparent;
  if (baggage) message.baggage = baggage;
  if (isJsonObject(value.action) && typeof value.action.type === "string") message.action = value.action.type;
  return message;
}

function parseInvocationResult(value: { [key: string]: JsonValue }): InvocationResultMessage | RejectedFrame {
  const invocationId = value.invocation_id;
  if (typeof invocationId !== "string" || invocationId === "") {
    return reject("invocationresult needs a string 'invocation_id'");
  }

  const message: InvocationResultMessage = { type: "invocationresult", invocation_id: invocationId };
  const functionId = optionalString(value.function_id);
  if (functionId) message.function_id = functionId;
  if (value.error !== undefined && value.error !== null) message.error = toWireErrorShape(value.error);
  else if (value.result !== undefined && value.result !== null) message.result = value.result;
  const traceparent = optionalString(value.traceparent);
  const baggage = optionalString(value.baggage);
  if (traceparent) message.traceparent = traceparent;
  if (baggage) message.baggage = baggage;
  return message;
}

/** Keeps a well-formed `{code, message}`; anything else becomes an `invocation_failed` error with its text. */
function toWireErrorShape(value: JsonValue): WireError {
  if (isJsonObject(value) && typeof value.code === "string" && typeof value.message === "string") {
    const error: WireError & { [key: string]: JsonValue } = { ...value, code: value.code, message: value.message };
    return error;
  }
  if (isJsonObject(value) && typeof value.message === "string") return { code: "invocation_failed", message: value.message };
  const text = typeof value === "string" ? value : isRawJson(value) ? value.rawJSON : JSON.stringify(value);
  return { code: "invocation_failed", message: text };
}

function withId<T>(value: { [key: string]: JsonValue }, type: string, build: (id: string) => T): T | RejectedFrame {
  const id = value.id;
  if (typeof id !== "string" || id === "") return reject(`${type} needs a non-empty string 'id'`);
  return build(id);
}

function optionalString(value: JsonValue | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function reject(reason: string): RejectedFrame {
  return { type: "rejected", reason };
}

/** Builds the frames the engine sends; `type` comes first and absent optional fields are omitted. */
export const encode = {
  workerRegistered(workerId: string): string {
    return JSON.stringify({ type: MessageType.workerRegistered, worker_id: workerId });
  },

  invokeFunction(invocationId: string, functionId: string, data: JsonValue, traceparent?: string, baggage?: string): string {
    return JSON.stringify({
      type: MessageType.invokeFunction,
      invocation_id: invocationId,
      function_id: functionId,
      data,
      traceparent: traceparent || undefined,
      baggage: baggage || undefined,
    });
  },

  invocationResult(
    invocationId: string,
    functionId: string,
    outcome: { result?: JsonValue; error?: WireError },
    traceparent?: string,
    baggage?: string,
  ): string {
    return JSON.stringify({
      type: MessageType.invocationResult,
      invocation_id: invocationId,
      function_id: functionId,
      result: outcome.error ? undefined : outcome.result,
      error: outcome.error,
      traceparent: traceparent || undefined,
      baggage: baggage || undefined,
    });
  },

  registerTrigger(id: string, triggerType: string, functionId: string, config: JsonValue): string {
    return JSON.stringify({ type: MessageType.registerTrigger, id, trigger_type: triggerType, function_id: functionId, config });
  },

  unregisterTrigger(id: string, triggerType: string): string {
    return JSON.stringify({ type: MessageType.unregisterTrigger, id, trigger_type: triggerType });
  },

  triggerRegistrationResult(id: string, triggerType: string, functionId: string, error?: WireError): string {
    return JSON.stringify({
      type: MessageType.triggerRegistrationResult,
      id,
      trigger_type: triggerType,
      function_id: functionId,
      error,
    });
  },

  pong(): string {
    return JSON.stringify({ type: MessageType.pong });
  },
};
