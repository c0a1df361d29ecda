import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, realpathSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const INSTALL_SCRIPT = join(import.meta.dir, "..", "..", "install.sh");
const SYSTEM_PATH = process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin";
const LATEST_VERSION = "0.2.0";

/** Tools that install.sh calls besides a downloader, linked into a PATH that lacks curl. */
const BASE_TOOLS = [
  "sh", "uname", "mktemp", "head", "tr", "awk", "cut", "tar", "gzip", "chmod", "mkdir", "cp", "mv",
  "rm", "basename", "grep", "ldd", "sha256sum", "shasum", "cat",
];

interface InstallRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Release host laid out like GitHub release assets: `latest/download/VERSION` and
 * `download/v<version>/{SHA256SUMS, iii-<version>-<platform>.tar.gz}`.
 */
let releaseRoot: string;
let server: ReturnType<typeof Bun.serve>;
let downloadBase: string;

let home: string;
let tmp: string;
let missingSystemDir: string;

beforeAll(async () => {
  releaseRoot = await mkdtemp(join(tmpdir(), "iii-releases-"));
  await writeRelease("0.1.0", ["linux-x64", "linux-x64-musl"]);
  await writeRelease(LATEST_VERSION, ["linux-x64", "linux-x64-musl", "linux-arm64"]);
  await writeRelease("0.3.0", ["linux-x64"], { corruptChecksum: true });
  await mkdir(join(releaseRoot, "latest", "download"), { recursive: true });
  await writeFile(join(releaseRoot, "latest", "download", "VERSION"), `${LATEST_VERSION}\n`);

  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (request) => {
      const path = decodeURIComponent(new URL(request.url).pathname);
      if (path.includes("..")) return new Response(null, { status: 400 });
      const file = Bun.file(join(releaseRoot, path));
      return (await file.exists()) ? new Response(file) : new Response(null, { status: 404 });
    },
  });
  downloadBase = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server.stop(true);
  await rm(releaseRoot, { recursive: true, force: true });
});

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "iii-home-"));
  tmp = await mkdtemp(join(tmpdir(), "iii-tmp-"));
  missingSystemDir = join(home, "no-system-bin");
});

afterEach(async () => {
  await rm(home, { recursive: true, force: true });
  await rm(tmp, { recursive: true, force: true });
});

describe("install.sh", () => {
  test("installs latest into ~/.local/bin", async () => {
    const run = await install([]);

    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(`installed iii v${LATEST_VERSION} (linux-x64)`);
    expect(await versionOf(join(home, ".local", "bin", "iii"))).toBe(`iii ${LATEST_VERSION}`);
  });

  test("installs binary with mode 755", async () => {
    const run = await install([], {}, { umask: "077" });

    expect(run.exitCode).toBe(0);
    expect((await stat(join(home, ".local", "bin", "iii"))).mode & 0o777).toBe(0o755);
  });

  test("installs pinned version with v prefix", async () => {
    const run = await install(["v0.1.0"]);

    expect(run.exitCode).toBe(0);
    expect(await versionOf(join(home, ".local", "bin", "iii"))).toBe("iii 0.1.0");
  });

  test("installs pinned version without v prefix", async () => {
    const run = await install(["0.1.0"]);

    expect(run.exitCode).toBe(0);
    expect(await versionOf(join(home, ".local", "bin", "iii"))).toBe("iii 0.1.0");
  });

  test("runs when piped to sh", async () => {
    const run = await install(["v0.1.0"], {}, { piped: true });

    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    expect(await versionOf(join(home, ".local", "bin", "iii"))).toBe("iii 0.1.0");
  });

  test("creates custom BIN_DIR", async () => {
    const binDir = join(home, "tools", "nested", "bin");

    const run = await install([], { BIN_DIR: binDir });

    expect(run.exitCode).toBe(0);
    expect(await versionOf(join(binDir, "iii"))).toBe(`iii ${LATEST_VERSION}`);
    expect(existsSync(join(home, ".local", "bin", "iii"))).toBe(false);
  });

  test("prefers writable system folder", async () => {
    const systemDir = join(home, "usr-local-bin");
    await mkdir(systemDir);

    const run = await install([], { III_SYSTEM_BIN_DIR: systemDir });

    expect(run.exitCode).toBe(0);
    expect(await versionOf(join(systemDir, "iii"))).toBe(`iii ${LATEST_VERSION}`);
    expect(existsSync(join(home, ".local", "bin"))).toBe(false);
  });

  test("picks musl build when libc is musl", async () => {
    const run = await install([], { III_INSTALL_LIBC: "musl" });

    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("(linux-x64-musl)");
    expect(await versionOf(join(home, ".local", "bin", "iii"))).toBe(`iii ${LATEST_VERSION} linux-x64-musl`);
  });

  test("maps uname arch names", async () => {
    const run = await install([], { III_INSTALL_OS: "Linux", III_INSTALL_ARCH: "aarch64" });

    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("(linux-arm64)");
  });

  test("replaces existing binary", async () => {
    const binDir = join(home, ".local", "bin");
    expect((await install(["v0.1.0"])).exitCode).toBe(0);

    const run = await install([]);

    expect(run.exitCode).toBe(0);
    expect(await versionOf(join(binDir, "iii"))).toBe(`iii ${LATEST_VERSION}`);
    expect(await readdir(binDir)).toEqual(["iii"]);
  });

  test("rejects checksum mismatch", async () => {
    const binDir = join(home, ".local", "bin");

    const run = await install(["v0.3.0"]);

    expectOneErrorLine(run, "checksum mismatch for 'iii-0.3.0-linux-x64.tar.gz'");
    expect(existsSync(join(binDir, "iii"))).toBe(false);
    expect(existsSync(binDir) ? await readdir(binDir) : []).toEqual([]);
    expect(await readdir(tmp)).toEqual([]);
  });

  test("keeps old binary on checksum mismatch", async () => {
    const binDir = join(home, ".local", "bin");
    expect((await install(["v0.1.0"])).exitCode).toBe(0);

    const run = await install(["v0.3.0"]);

    expect(run.exitCode).toBe(1);
    expect(await versionOf(join(binDir, "iii"))).toBe("iii 0.1.0");
    expect(await readdir(binDir)).toEqual(["iii"]);
  });

  test("rejects unknown version", async () => {
    const run = await install(["v9.9.9"]);

    expectOneErrorLine(run, "version 'v9.9.9' not found");
    expect(existsSync(join(home, ".local", "bin", "iii"))).toBe(false);
    expect(await readdir(tmp)).toEqual([]);
  });

  test("rejects unknown version with wget", async () => {
    const toolDir = await linkTools([...BASE_TOOLS, "wget"]);

    const run = await install(["v9.9.9"], { PATH: toolDir });

    expectOneErrorLine(run, "version 'v9.9.9' not found");
  });

  test("reports unreachable release host", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(null) });
    const closedBase = `http://127.0.0.1:${closed.port}`;
    await closed.stop(true);

    const run = await install([], { III_DOWNLOAD_BASE: closedBase });

    expectOneErrorLine(run, `could not download '${closedBase}/latest/download/VERSION' (curl exit code 7)`);
  });

  test("rejects malformed version", async () => {
    const run = await install(["../../etc"]);

    expectOneErrorLine(run, "invalid version '../../etc'");
  });

  test("rejects unsupported architecture", async () => {
    const run = await install([], { III_INSTALL_ARCH: "mips" });

    expectOneErrorLine(run, "unsupported architecture 'mips'");
    expect(existsSync(join(home, ".local", "bin"))).toBe(false);
  });

  test("rejects unsupported operating system", async () => {
    const run = await install([], { III_INSTALL_OS: "FreeBSD" });

    expectOneErrorLine(run, "unsupported operating system 'FreeBSD'");
  });

  test("rejects unknown libc override", async () => {
    const run = await install([], { III_INSTALL_LIBC: "uclibc" });

    expectOneErrorLine(run, "unsupported C library 'uclibc'");
  });

  test("rejects platform missing from release", async () => {
    const run = await install(["v0.1.0"], { III_INSTALL_ARCH: "arm64" });

    expectOneErrorLine(run, "release 'v0.1.0' has no binary for platform 'linux-arm64'");
  });

  test("prints PATH hint when folder is not on PATH", async () => {
    const binDir = join(home, ".local", "bin");

    const run = await install([], { SHELL: "/bin/bash" });

    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(`'${binDir}' is not on your PATH`);
    expect(run.stdout).toContain(`export PATH="${binDir}:$PATH"`);
    expect(run.stdout).toContain("~/.bashrc");
  });

  test("omits PATH hint when folder is on PATH", async () => {
    const binDir = join(home, ".local", "bin");

    const run = await install([], { PATH: `${binDir}:${SYSTEM_PATH}` });

    expect(run.exitCode).toBe(0);
    expect(run.stdout).not.toContain("is not on your PATH");
    expect(run.stdout).toContain("run 'iii --version'");
  });

  test("downloads with wget when curl is missing", async () => {
    const toolDir = await linkTools([...BASE_TOOLS, "wget"]);

    const run = await install([], { PATH: toolDir });

    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    expect(await versionOf(join(home, ".local", "bin", "iii"))).toBe(`iii ${LATEST_VERSION}`);
  });

  test("fails without curl or wget", async () => {
    const toolDir = await linkTools(BASE_TOOLS);

    const run = await install([], { PATH: toolDir });

    expectOneErrorLine(run, "neither curl nor wget is installed");
    expect(existsSync(join(home, ".local", "bin", "iii"))).toBe(false);
  });

  test.skipIf(!Bun.which("shellcheck"))("passes shellcheck", async () => {
    const check = Bun.spawn(["shellcheck", INSTALL_SCRIPT], { stdout: "pipe", stderr: "pipe" });

    const output = await new Response(check.stdout).text();

    expect(output).toBe("");
    expect(await check.exited).toBe(0);
  });
});

/**
 * Runs install.sh under `sh` with a clean environment pointed at the local release host. With
 * `piped` the script arrives on stdin, as in `curl ... | sh -s -- <version>`, and `umask` sets
 * the file creation mask of the run.
 */
async function install(
  args: readonly string[],
  env: Record<string, string> = {},
  options: { piped?: boolean; umask?: string } = {},
): Promise<InstallRun> {
  const script = options.piped ? ["-s", "--", ...args] : [INSTALL_SCRIPT, ...args];
  const command = options.umask
    ? ["sh", "-c", `umask ${options.umask} && exec sh "$@"`, "sh", ...script]
    : ["sh", ...script];
  const child = Bun.spawn(command, {
    stdin: options.piped ? Bun.file(INSTALL_SCRIPT) : "ignore",
    cwd: home,
    env: {
      PATH: SYSTEM_PATH,
      HOME: home,
      TMPDIR: tmp,
      SHELL: "/bin/sh",
      III_DOWNLOAD_BASE: downloadBase,
      III_SYSTEM_BIN_DIR: missingSystemDir,
      III_INSTALL_OS: "linux",
      III_INSTALL_ARCH: "x64",
      III_INSTALL_LIBC: "glibc",
      ...env,
    },
    stdout: "pipe",
    stderr: "pipe",
  });

  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { exitCode, stdout, stderr };
}

function expectOneErrorLine(run: InstallRun, expected: string): void {
  const lines = run.stderr.trimEnd().split("\n");

  expect(run.exitCode).toBe(1);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith("error: ");
  expect(lines[0]).toContain(expected);
}

async function versionOf(binary: string): Promise<string> {
  const child = Bun.spawn([binary, "--version"], { stdout: "pipe" });
  const output = await new Response(child.stdout).text();
  expect(await child.exited).toBe(0);
  return output.trim();
}

/**
 * Writes one release: a tarball per platform holding a shell script named `iii` that prints the
 * version, and SHA256SUMS. With `corruptChecksum` the listed hashes do not match the tarballs.
 */
async function writeRelease(
  version: string,
  platforms: readonly string[],
  options: { corruptChecksum?: boolean } = {},
): Promise<void> {
  const releaseDir = join(releaseRoot, "download", `v${version}`);
  await mkdir(releaseDir, { recursive: true });

  const sums: string[] = [];
  for (const platform of platforms) {
    const stagingDir = await mkdtemp(join(tmpdir(), "iii-stage-"));
    const suffix = platform.endsWith("-musl") ? ` ${platform}` : "";
    await writeFile(join(stagingDir, "iii"), `#!/bin/sh\necho "iii ${version}${suffix}"\n`);
    await chmod(join(stagingDir, "iii"), 0o755);

    const archive = `iii-${version}-${platform}.tar.gz`;
    const tar = Bun.spawn(["tar", "-czf", join(releaseDir, archive), "-C", stagingDir, "iii"]);
    expect(await tar.exited).toBe(0);
    await rm(stagingDir, { recursive: true, force: true });

    const hash = new Bun.CryptoHasher("sha256").update(await Bun.file(join(releaseDir, archive)).arrayBuffer());
    const hex = options.corruptChecksum ? "0".repeat(64) : hash.digest("hex");
    sums.push(`${hex}  ${archive}\n`);
  }
  await writeFile(join(releaseDir, "SHA256SUMS"), sums.join(""));
}

/** Creates a folder of symlinks to the named tools, to run install.sh with a reduced PATH. */
async function linkTools(tools: readonly string[]): Promise<string> {
  const toolDir = join(home, "tools");
  await mkdir(toolDir);
  for (const tool of tools) {
    const path = Bun.which(tool, { PATH: SYSTEM_PATH });
    if (path) await symlink(realpathSync(path), join(toolDir, tool));
  }
  return toolDir;
}
