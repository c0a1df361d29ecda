/**
 * Compiles the engine into a standalone `iii` executable.
 *
 *   bun scripts/build.ts                    this machine only, into dist/iii
 *   bun scripts/build.ts --release          also every RELEASE_TARGETS entry, into dist/release/
 *   bun scripts/build.ts --release --strict exit 1 unless every release target was built
 *
 * dist/release/ then holds `iii-<version>-<platform>.tar.gz` (each containing only the `iii`
 * binary), `SHA256SUMS` in `sha256sum` format, `install.sh`, and `VERSION` (the bare version, for the
 * installer's "latest" lookup). The version comes from package.json.
 */
import { existsSync, readdirSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";

/** One platform a release ships a binary for. */
export interface ReleaseTarget {
  os: "linux" | "darwin";
  arch: "x64" | "arm64";
  /** C library the binary links against, or null on macOS, which has only one. */
  libc: "glibc" | "musl" | null;
  /** The `--target` value Bun's compiler takes for this platform. */
  bunTarget: Bun.Build.CompileTarget;
}

/** Every platform a release ships. install.sh derives the same names from `uname`. */
export const RELEASE_TARGETS: readonly ReleaseTarget[] = [
  { os: "linux", arch: "x64", libc: "glibc", bunTarget: "bun-linux-x64" },
  { os: "linux", arch: "arm64", libc: "glibc", bunTarget: "bun-linux-arm64" },
  { os: "linux", arch: "x64", libc: "musl", bunTarget: "bun-linux-x64-musl" },
  { os: "linux", arch: "arm64", libc: "musl", bunTarget: "bun-linux-arm64-musl" },
  { os: "darwin", arch: "x64", libc: null, bunTarget: "bun-darwin-x64" },
  { os: "darwin", arch: "arm64", libc: null, bunTarget: "bun-darwin-arm64" },
];

export const ROOT_DIR = join(import.meta.dir, "..");
export const ENTRY_POINT = join(ROOT_DIR, "src", "main.ts");
export const HOST_BINARY_PATH = join(ROOT_DIR, "dist", "iii");
export const RELEASE_DIR = join(ROOT_DIR, "dist", "release");

/** Outcome of compiling one target. `reason` is a one-line cause when `built` is false. */
export interface TargetResult {
  target: ReleaseTarget;
  built: boolean;
  reason?: string;
}

/** Names a target the way release files do: `linux-x64`, `linux-arm64-musl`, `darwin-arm64`. */
export function platformName(target: ReleaseTarget): string {
  const base = `${target.os}-${target.arch}`;
  return target.libc === "musl" ? `${base}-musl` : base;
}

/** Names the release archive of a target, for example `iii-0.7.0-linux-x64.tar.gz`. */
export function archiveName(version: string, target: ReleaseTarget): string {
  return `iii-${version}-${platformName(target)}.tar.gz`;
}

/** Finds the release target matching this machine, or undefined when no release covers it. */
export function findHostTarget(
  os: string = process.platform,
  arch: string = process.arch,
  libc: ReleaseTarget["libc"] = detectHostLibc(),
): ReleaseTarget | undefined {
  return RELEASE_TARGETS.find((target) => target.os === os && target.arch === arch && target.libc === libc);
}

/** Reads the version field of package.json, which names every release file. */
export async function readPackageVersion(): Promise<string> {
  const manifest: unknown = JSON.parse(await readFile(join(ROOT_DIR, "package.json"), "utf8"));
  const version = (manifest as { version?: unknown }).version;
  if (typeof version !== "string" || version === "") {
    throw new Error("package.json: missing 'version'; set it to the release version, for example '0.7.0'");
  }
  return version;
}

/**
 * Compiles src/main.ts into one executable at `outfile`. A cross target needs Bun to fetch that
 * platform's runtime first; a failed fetch or build is returned as `built: false`, never thrown.
 */
export async function compileTarget(
  outfile: string,
  target?: ReleaseTarget,
  entryPoint: string = ENTRY_POINT,
): Promise<Omit<TargetResult, "target">> {
  try {
    const output = await Bun.build({
      entrypoints: [entryPoint],
      compile: {
        outfile,
        ...(target ? { target: target.bunTarget } : {}),
        // The engine reads only its config file and environment, so a .env or bunfig.toml that
        // happens to sit in the working directory must not change how the binary behaves.
        autoloadDotenv: false,
        autoloadBunfig: false,
      },
      minify: true,
      sourcemap: "linked",
      // Precompiled bytecode saves parsing the whole bundle at every start.
      bytecode: true,
      format: "esm",
      // Packages without an exports map resolve through their "module" field. This condition makes
      // packages with one pick the same build, so an ES5 subclass never extends an ES2015 class.
      conditions: ["module"],
      throw: false,
    });
    if (output.success) return { built: true };

    const message = firstLine(output.logs.map((log) => log.message).join("\n"));
    return { built: false, reason: message || "build failed with no message" };
  } catch (error) {
    return { built: false, reason: firstLine(error instanceof Error ? error.message : String(error)) };
  }
}

async function main(args: readonly string[]): Promise<number> {
  const unknown = args.filter((arg) => arg !== "--release" && arg !== "--strict");
  if (unknown.length > 0) {
    console.error(`unknown option '${unknown[0]}'; use --release, optionally with --strict`);
    return 2;
  }

  const host = await compileTarget(HOST_BINARY_PATH);
  if (!host.built) {
    console.error(`failed to build ${relative(ROOT_DIR, HOST_BINARY_PATH)}: ${host.reason}`);
    return 1;
  }
  console.log(`built ${relative(ROOT_DIR, HOST_BINARY_PATH)}`);
  if (!args.includes("--release")) return 0;

  const version = await readPackageVersion();
  const results = await buildRelease(version);
  printSummary(version, results);

  const hostTarget = findHostTarget();
  const hostResult = results.find((result) => result.target === hostTarget);
  if (hostTarget && !hostResult?.built) return 1;
  if (args.includes("--strict") && results.some((result) => !result.built)) return 1;
  return 0;
}

/** Builds, packs and checksums every release target, continuing past targets that fail. */
async function buildRelease(version: string): Promise<TargetResult[]> {
  await rm(RELEASE_DIR, { recursive: true, force: true });
  await mkdir(RELEASE_DIR, { recursive: true });
  const stagingRoot = await mkdtemp(join(ROOT_DIR, "dist", ".staging-"));

  const results: TargetResult[] = [];
  const checksums: string[] = [];
  try {
    for (const target of RELEASE_TARGETS) {
      const stagingDir = join(stagingRoot, platformName(target));
      await mkdir(stagingDir);
      const compiled = await compileTarget(join(stagingDir, "iii"), target);
      if (!compiled.built) {
        results.push({ target, ...compiled });
        continue;
      }

      const archive = archiveName(version, target);
      const packed = await packArchive(stagingDir, join(RELEASE_DIR, archive));
      if (!packed.built) {
        results.push({ target, ...packed });
        continue;
      }
      checksums.push(`${await sha256File(join(RELEASE_DIR, archive))}  ${archive}`);
      results.push({ target, built: true });
    }
  } finally {
    await rm(stagingRoot, { recursive: true, force: true });
  }

  checksums.sort((a, b) => a.split("  ")[1]!.localeCompare(b.split("  ")[1]!));
  await writeFile(join(RELEASE_DIR, "SHA256SUMS"), checksums.map((line) => `${line}\n`).join(""));
  await writeFile(join(RELEASE_DIR, "VERSION"), `${version}\n`);
  // The installer ships beside the archives, so `.../releases/latest/download/install.sh` works.
  await copyFile(join(ROOT_DIR, "install.sh"), join(RELEASE_DIR, "install.sh"));
  return results;
}

/** Packs the `iii` file of `stagingDir` alone into a gzipped tarball, keeping its executable mode. */
async function packArchive(stagingDir: string, archivePath: string): Promise<Omit<TargetResult, "target">> {
  // Bun.Archive (Bun 1.4.5) writes every entry with mode 0644, so the system tar keeps the executable bit.
  const tar = Bun.spawn(["tar", "-czf", archivePath, "-C", stagingDir, "iii"], { stderr: "pipe" });
  const exitCode = await tar.exited;
  if (exitCode === 0) return { built: true };
  const stderr = await new Response(tar.stderr).text();
  return { built: false, reason: `tar exited with ${exitCode}: ${firstLine(stderr)}` };
}

async function sha256File(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  hasher.update(await Bun.file(path).arrayBuffer());
  return hasher.digest("hex");
}

function printSummary(version: string, results: readonly TargetResult[]): void {
  const built = results.filter((result) => result.built);
  const missing = results.filter((result) => !result.built);

  console.log(`release ${version} in ${relative(ROOT_DIR, RELEASE_DIR)}/`);
  console.log(`built ${built.length} of ${results.length} targets:`);
  for (const result of built) console.log(`  ${archiveName(version, result.target)}`);
  if (missing.length === 0) return;

  console.log("not built:");
  for (const result of missing) console.log(`  ${platformName(result.target)}: ${result.reason}`);
}

function detectHostLibc(): ReleaseTarget["libc"] {
  if (process.platform !== "linux") return null;
  // musl systems ship their dynamic loader as /lib/ld-musl-<arch>.so.1, and glibc systems do not.
  if (!existsSync("/lib")) return "glibc";
  return readdirSync("/lib").some((name) => name.startsWith("ld-musl-")) ? "musl" : "glibc";
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.trim() ?? "";
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
