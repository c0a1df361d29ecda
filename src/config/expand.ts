import { ConfigError } from "../core/errors.ts";

// `${NAME}` or `${NAME:default}`: the name is any run of characters other than
// `}` and `:`, and the default any run other than `}` (so it may hold colons, as URLs do).
const PLACEHOLDER_PATTERN = /\$\{([^}:]+)(?::([^}]*))?\}/g;

/**
 * Replaces every `${NAME}` and `${NAME:default}` in raw config text, comments
 * included, before the YAML is parsed. A variable that is set, even to an empty
 * string, wins over its default. Only variable names are looked up; nothing is
 * evaluated. Throws `ConfigError` naming the first unset variable without a default.
 */
export function expandEnvironment(text: string, env: Record<string, string | undefined>, source: string): string {
  return text.replace(PLACEHOLDER_PATTERN, (placeholder: string, name: string, fallback: string | undefined, offset: number) => {
    // Own properties only: `${valueOf}` must not find Object.prototype.valueOf.
    const value = Object.hasOwn(env, name) ? env[name] : undefined;
    if (typeof value === "string") return value;
    if (fallback !== undefined) return fallback;
    const line = text.slice(0, offset).split("\n").length;
    throw new ConfigError(
      `${source}:${line}: environment variable '${name}' is not set and '${placeholder}' has no default; ` +
        `set it or write '\${${name}:default}'`,
    );
  });
}
