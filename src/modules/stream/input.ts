import type { InputObject } from "../input.ts";

/** Returns the input for a delegate: the same object without the caller's worker id. */
export function withoutCaller(input: InputObject): InputObject {
  if (!("_caller_worker_id" in input)) return input;
  const { _caller_worker_id: _ignored, ...rest } = input;
  return rest;
}
