import packageJson from "../package.json" with { type: "json" };

/** The engine version, taken from package.json at build time. */
export const ENGINE_VERSION: string = packageJson.version;
