import { EngineError, ErrorCode } from "../../core/errors.ts";

export const HTTP_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** One trigger's claim on a method and path; the newest live claim serves the route. */
export interface RouteClaim {
  triggerId: string;
  functionId: string;
  conditionFunctionId?: string;
  /** The path exactly as registered, such as `users/:id`. */
  path: string;
  method: HttpMethod;
}

export type RouteMatch =
  | { type: "found"; claim: RouteClaim; params: Record<string, string> }
  | { type: "method_not_allowed"; allow: string[] }
  | { type: "not_found" };

interface RouteNode {
  statics: Map<string, RouteNode>;
  param: { name: string; node: RouteNode } | null;
  claims: Map<HttpMethod, RouteClaim[]>;
}

/**
 * HTTP routes built from `http` triggers. Paths match segment by segment with
 * no trailing-slash folding; a static segment wins over a `:param` segment
 * whatever the registration order.
 */
export class RouteTable {
  readonly #root: RouteNode = createNode();
  readonly #byTrigger = new Map<string, RouteClaim>();

  /** Adds a claim; throws when a `:param` at the same position has another name. */
  add(claim: RouteClaim): void {
    let node = this.#root;
    for (const segment of splitPath(claim.path)) {
      const name = parameterName(segment);
      if (name === undefined) {
        let next = node.statics.get(segment);
        if (!next) {
          next = createNode();
          node.statics.set(segment, next);
        }
        node = next;
        continue;
      }

      if (node.param && node.param.name !== name) {
        throw new EngineError(
          ErrorCode.triggerRegistrationFailed,
          `http path '${claim.path}' names a parameter ':${name}' where the registered path '${examplePath(node.param.node)}' ` +
            `has ':${node.param.name}'; use the same parameter name at the same position`,
        );
      }
      node.param ??= { name, node: createNode() };
      node = node.param.node;
    }

    const claims = node.claims.get(claim.method) ?? [];
    claims.push(claim);
    node.claims.set(claim.method, claims);
    this.#byTrigger.set(claim.triggerId, claim);
  }

  /** Removes one trigger's claim; other triggers on the same route keep it alive. */
  remove(triggerId: string): RouteClaim | undefined {
    const claim = this.#byTrigger.get(triggerId);
    if (!claim) return undefined;
    this.#byTrigger.delete(triggerId);
    removeClaim(this.#root, splitPath(claim.path), 0, claim);
    return claim;
  }

  get size(): number {
    return this.#byTrigger.size;
  }

  /** Finds the route for a request path (with its leading slash) and method. */
  match(method: string, pathname: string): RouteMatch {
    const params: Record<string, string> = {};
    const node = findNode(this.#root, splitPath(pathname), 0, params);
    if (!node || node.claims.size === 0) return { type: "not_found" };

    const claim = latest(node, method) ?? (method === "HEAD" ? latest(node, "GET") : undefined);
    if (claim) return { type: "found", claim, params };

    const allow = [...node.claims.keys()];
    if (allow.includes("GET") && !allow.includes("HEAD")) allow.push("HEAD");
    return { type: "method_not_allowed", allow };
  }
}

/** Splits a path into segments after dropping one leading slash; `/` and `` have none. */
export function splitPath(path: string): string[] {
  const trimmed = path.startsWith("/") ? path.slice(1) : path;
  return trimmed === "" ? [] : trimmed.split("/");
}

/** Returns the parameter name of a `:name` or `{name}` segment, or undefined for a static one. */
function parameterName(segment: string): string | undefined {
  if (segment.startsWith(":")) return segment.slice(1);
  if (segment.length > 2 && segment.startsWith("{") && segment.endsWith("}")) return segment.slice(1, -1);
  return undefined;
}

function createNode(): RouteNode {
  return { statics: new Map(), param: null, claims: new Map() };
}

function latest(node: RouteNode, method: string): RouteClaim | undefined {
  const claims = node.claims.get(method as HttpMethod);
  return claims?.[claims.length - 1];
}

function findNode(node: RouteNode, segments: string[], index: number, params: Record<string, string>): RouteNode | undefined {
  if (index === segments.length) return node.claims.size > 0 ? node : undefined;
  const segment = segments[index]!;

  const staticChild = node.statics.get(segment);
  if (staticChild) {
    const found = findNode(staticChild, segments, index + 1, params);
    if (found) return found;
  }
  if (node.param && segment !== "") {
    const found = findNode(node.param.node, segments, index + 1, params);
    if (found) {
      params[node.param.name] = segment;
      return found;
    }
  }
  return undefined;
}

function removeClaim(node: RouteNode, segments: string[], index: number, claim: RouteClaim): boolean {
  if (index === segments.length) {
    const remaining = (node.claims.get(claim.method) ?? []).filter((entry) => entry !== claim);
    if (remaining.length === 0) node.claims.delete(claim.method);
    else node.claims.set(claim.method, remaining);
  } else {
    const segment = segments[index]!;
    if (parameterName(segment) !== undefined) {
      if (node.param && removeClaim(node.param.node, segments, index + 1, claim)) node.param = null;
    } else {
      const child = node.statics.get(segment);
      if (child && removeClaim(child, segments, index + 1, claim)) node.statics.delete(segment);
    }
  }
  return node.claims.size === 0 && node.statics.size === 0 && node.param === null;
}

function examplePath(node: RouteNode): string {
  for (const claims of node.claims.values()) {
    if (claims[0]) return claims[0].path;
  }
  for (const child of node.statics.values()) return examplePath(child);
  if (node.param) return examplePath(node.param.node);
  return "";
}
