import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  archiveName,
  compileTarget,
  findHostTarget,
  HOST_BINARY_PATH,
  platformName,
  readPackageVersion,
  RELEASE_TARGETS,
  ROOT_DIR,
} from "../../scripts/build";

const HAS_CLI = existsSync(join(ROOT_DIR, "src", "cli", "main.ts"));
const HOST_BUILD_TIMEOUT_MS = 120_000;

const scratchDirs: string[] = [];

afterAll(async () => {
  for (const dir of scratchDirs) await rm(dir, { recursive: true, force: true });
});

describe("release targets", () => {
  test("cover every supported platform", () => {
    const names = RELEASE_TARGETS.map(platformName).sort();

    expect(names).toEqual([
      "darwin-arm64",
      "darwin-x64",
      "linux-arm64",
      "linux-arm64-musl",
      "linux-x64",
      "linux-x64-musl",
    ]);
  });

  test("match their Bun compile target", () => {
    for (const target of RELEASE_TARGETS) {
      const libcSuffix = target.libc === "musl" ? "-musl" : "";

      expect(String(target.bunTarget)).toBe(`bun-${target.os}-${target.arch}${libcSuffix}`);
      expect(target.libc === null).toBe(target.os === "darwin");
    }
  });

  test("name archives by version and platform", () => {
    const linuxMusl = RELEASE_TARGETS.find((target) => target.bunTarget === "bun-linux-arm64-musl")!;

    expect(archiveName("0.7.0", linuxMusl)).toBe("iii-0.7.0-linux-arm64-musl.tar.gz");
  });

  test("are all listed in install.sh", async () => {
    const script = await readFile(join(ROOT_DIR, "install.sh"), "utf8");

    for (const target of RELEASE_TARGETS) {
      expect(script).toContain(platformName(target));
    }
  });

  test("include this machine", () => {
    const host = findHostTarget();

    expect(host).toBeDefined();
    expect(host?.os).toBe(process.platform as "linux" | "darwin");
    expect(host?.arch).toBe(process.arch as "x64" | "arm64");
  });

  test("resolve host by os, arch and libc", () => {
    expect(findHostTarget("linux", "arm64", "musl")?.bunTarget).toBe("bun-linux-arm64-musl");
    expect(findHostTarget("darwin", "x64", null)?.bunTarget).toBe("bun-darwin-x64");
    expect(findHostTarget("win32", "x64", null)).toBeUndefined();
  });
});

describe("compileTarget", () => {
  test("reports failure instead of throwing", async () => {
    const outDir = await scratchDir();

    const result = await compileTarget(join(outDir, "iii"), undefined, join(outDir, "missing.ts"));

    expect(result.built).toBe(false);
    expect(result.reason).toContain("missing.ts");
    expect(existsSync(join(outDir, "iii"))).toBe(false);
  });
});

describe("host build", () => {
  // NOTE: skipped until src/cli/main.ts exists, because src/main.ts cannot be bundled without it
  test.skipIf(!HAS_CLI)(
    "prints package version",
    async () => {
      const build = Bun.spawn(["bun", "scripts/build.ts"], { cwd: ROOT_DIR, stdout: "pipe", stderr: "pipe" });
      const stderr = await new Response(build.stderr).text();
      // The build output is part of the compared object so a failure shows why.
      expect({ exitCode: await build.exited, stderr }).toMatchObject({ exitCode: 0 });

      const binary = Bun.spawn([HOST_BINARY_PATH, "--version"], { stdout: "pipe", stderr: "pipe" });
      const output = await new Response(binary.stdout).text();

      expect(await binary.exited).toBe(0);
      expect(output).toContain(await readPackageVersion());
    },
    HOST_BUILD_TIMEOUT_MS,
  );
});

async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "iii-build-"));
  scratchDirs.push(dir);
  return dir;
}
