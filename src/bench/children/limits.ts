import { readFileSync } from 'node:fs';

// Ten thousand terminals are ten thousand sockets at the broker and as many
// ephemeral ports on loopback. A limit below that shows as refused or missing
// connections that look like the broker's fault: it is checked first, and
// named in the error.

/** Files (sockets among them) a process may hold besides its connections: its libraries, database, logs, listening sockets. */
const SPARE_FILES = 200;

/** The soft limit of open files of a process (RLIMIT_NOFILE as /proc shows it); undefined where /proc is not there. */
export function openFilesLimit(pid: number): number | undefined {
  try {
    const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    if (!match) return undefined;
    return match[1] === 'unlimited' ? Infinity : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** Throws when the process `what` (pid) may not hold `connections` sockets and its own files. */
export function assertOpenFiles(pid: number, connections: number, what: string): void {
  const limit = openFilesLimit(pid);
  if (limit !== undefined && limit < connections + SPARE_FILES) {
    throw new Error(
      `${what} may open ${limit} files, too few for ${connections} connections: raise its limit (ulimit -n) to ${connections + SPARE_FILES} or more`,
    );
  }
}

/** Throws when loopback has fewer ephemeral ports than `connections` (net.ipv4.ip_local_port_range). */
export function assertEphemeralPorts(connections: number): void {
  let range: string;
  try {
    range = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    return;
  }
  const [low, high] = range.trim().split(/\s+/).map(Number);
  if (high - low + 1 < connections + SPARE_FILES) {
    throw new Error(`net.ipv4.ip_local_port_range (${low}–${high}) has too few ports for ${connections} connections on loopback`);
  }
}
