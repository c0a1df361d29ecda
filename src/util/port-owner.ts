import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * Finds the process listening on a TCP port by reading /proc (Linux only).
 * Returns a description such as `pid 4242 (redis-server)`, or undefined when it
 * cannot be found (another OS, or no permission to read the other process).
 */
export function describePortOwner(port: number): string | undefined {
  try {
    const inodes = listeningInodes(port);
    if (inodes.size === 0) return undefined;
    for (const pid of readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      if (!ownsSocket(pid, inodes)) continue;
      const command = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      return `pid ${pid} (${command})`;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function listeningInodes(port: number): Set<string> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const localAddress = fields[1];
      // State 0A is LISTEN; field 9 is the socket inode.
      if (localAddress?.endsWith(`:${hexPort}`) && fields[3] === "0A" && fields[9]) inodes.add(fields[9]);
    }
  }
  return inodes;
}

function ownsSocket(pid: string, inodes: Set<string>): boolean {
  let descriptors: string[];
  try {
    descriptors = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of descriptors) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match && inodes.has(match[1]!)) return true;
    } catch {
      continue;
    }
  }
  return false;
}
