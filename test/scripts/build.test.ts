import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
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

describe("container configs", () => {
  const CONFIG_FILES = ["deploy/config.docker.yaml", "deploy/config.compose.yaml"];
  const LISTENING_MODULES = ["modules::api::RestApiModule", "modules::stream::StreamModule"];

  for (const file of CONFIG_FILES) {
    test(`${file} binds every listener to 0.0.0.0`, async () => {
      const config = parse(await readFile(join(ROOT_DIR, file), "utf8")) as ContainerConfig;
      const modules = config.modules ?? [];
      const observability = modules.find((entry) => entry.class === "modules::observability::OtelModule");

      expect(config.host).toBe("0.0.0.0");
      for (const className of LISTENING_MODULES) {
        const entry = modules.find((candidate) => candidate.class === className);
        expect(entry?.config?.host).toBe("0.0.0.0");
      }
      expect(observability?.config?.prometheus?.host).toBe("0.0.0.0");
    });
  }

  test("compose config selects Redis adapters", async () => {
    const text = await readFile(join(ROOT_DIR, "deploy/config.compose.yaml"), "utf8");
    const config = parse(text) as ContainerConfig;
    const adapters = new Map((config.modules ?? []).map((entry) => [entry.class, entry.config?.adapter]));

    expect(adapters.get("modules::state::StateModule")?.class).toBe("modules::state::adapters::RedisAdapter");
    expect(adapters.get("modules::stream::StreamModule")?.class).toBe("modules::stream::adapters::RedisAdapter");
    expect(adapters.get("modules::pubsub::PubSubModule")?.class).toBe("modules::pubsub::RedisAdapter");
    expect(adapters.get("modules::queue::QueueModule")?.class).toBe("modules::queue::RedisAdapter");
    expect(adapters.get("modules::cron::CronModule")?.class).toBe("modules::cron::RedisCronAdapter");
    for (const adapter of adapters.values()) {
      if (adapter) expect(adapter.config?.redis_url).toBe("${REDIS_URL:redis://redis:6379}");
    }
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
  test(
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

/** The parts of a container config file these tests read. */
interface ContainerConfig {
  host?: string;
  modules?: Array<{
    class: string;
    config?: {
      host?: string;
      prometheus?: { host?: string };
      adapter?: { class?: string; config?: { redis_url?: string } };
    };
  }>;
}

async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "iii-build-"));
  scratchDirs.push(dir);
  return dir;
}
