/** Reads `--key=value` flags; a missing key falls back to `fallback` or fails with its name. */
export function readFlags(argv: string[] = process.argv.slice(2)): {
  text(key: string, fallback?: string): string;
  number(key: string, fallback?: number): number;
} {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const match = arg.match(/^--([^=]+)=(.*)$/);
    if (match) flags.set(match[1]!, match[2]!);
  }
  const text = (key: string, fallback?: string): string => {
    const value = flags.get(key) ?? fallback;
    if (value === undefined) throw new Error(`missing flag '--${key}=...'`);
    return value;
  };
  return { text, number: (key, fallback) => Number(text(key, fallback === undefined ? undefined : String(fallback))) };
}

/** Prints one JSON line for the parent process to read. */
export function report(value: unknown): void {
  console.log(JSON.stringify(value));
}

/** Exits on SIGTERM, after `cleanup`, so the parent can stop a role at any time. */
export function exitOnSignal(cleanup: () => void | Promise<void> = () => {}): void {
  process.on("SIGTERM", () => {
    void Promise.resolve(cleanup()).finally(() => process.exit(0));
  });
}
