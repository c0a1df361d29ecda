import { describe, expect, test } from "bun:test";
import { compileWatchPattern, matchesWatchPattern } from "../../../src/modules/shell/index.ts";

describe("compileWatchPattern", () => {
  test("watches the static root recursively for **", () => {
    const pattern = compileWatchPattern("steps/**/*.{ts,js}");
    expect(pattern.root).toBe("steps");
    expect(pattern.recursive).toBe(true);
  });

  test("watches one directory for a single-level glob", () => {
    const pattern = compileWatchPattern("config/*.json");
    expect(pattern.root).toBe("config");
    expect(pattern.recursive).toBe(false);
  });

  test("uses the working directory when the glob starts at once", () => {
    expect(compileWatchPattern("*.ts").root).toBe(".");
    expect(compileWatchPattern("./*.ts").root).toBe(".");
    expect(compileWatchPattern("**/*.ts")).toMatchObject({ root: ".", recursive: true });
  });

  test("keeps absolute roots", () => {
    expect(compileWatchPattern("/srv/app/src/**/*.ts")).toMatchObject({ root: "/srv/app/src", recursive: true });
    expect(compileWatchPattern("/srv/app/main.ts")).toMatchObject({ root: "/srv/app", recursive: false });
  });

  test("needs recursion when a later segment is nested", () => {
    expect(compileWatchPattern("src/*/index.ts").recursive).toBe(true);
  });
});

describe("matchesWatchPattern", () => {
  const cases: Array<[string, string, boolean]> = [
    ["src/**/*.{ts,js}", "src/a.ts", true],
    ["src/**/*.{ts,js}", "src/deep/er/b.js", true],
    ["src/**/*.{ts,js}", "src/a.md", false],
    ["src/**/*.{ts,js}", "lib/a.ts", false],
    ["config/*.json", "config/app.json", true],
    ["config/*.json", "config/sub/app.json", false],
    ["config/*.json", "./config/app.json", true],
    ["*.ts", "main.ts", true],
    ["*.ts", "src/main.ts", false],
  ];
  for (const [pattern, path, expected] of cases) {
    test(`${pattern} ${expected ? "matches" : "skips"} ${path}`, () => {
      expect(matchesWatchPattern(compileWatchPattern(pattern), path)).toBe(expected);
    });
  }
});
