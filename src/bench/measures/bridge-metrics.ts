import { monotonicMs } from './clock.ts';

/** What the bridge's /metrics says about delivery, commands, people on terminals, terminals online and its main thread's heap. */
export interface BridgeCounters {
  /** facegate_delivery_attempts_total by outcome (delivered, retry, dead, gone). */
  attempts: Record<string, number>;
  /** facegate_outbox_depth summed over endpoints: deliveries waiting. */
  outboxDepth: number;
  /** V8's heap on the main thread, used and reserved, and memory outside it (Buffers): what RSS is made of besides SQLite and the writer thread. */
  heapUsedBytes: number | undefined;
  heapTotalBytes: number | undefined;
  externalBytes: number | undefined;
  /** facegate_commands_total by outcome (queued, published, replied, unanswered, expired, failed, rate_limited). */
  commands: Record<string, number>;
  /** facegate_terminals_online. */
  terminalsOnline: number | undefined;
  /** facegate_person_sync by status (pending, sent, applied, failed): rows of people on terminals, counted by triggers. */
  personSync: Record<string, number>;
  /** facegate_commit_seconds: batches committed (group commit) and their time together, in seconds. */
  commits: number | undefined;
  commitSeconds: number | undefined;
}

/** Labelled by endpoint too: summed over the endpoints. */
const ATTEMPTS = /^facegate_delivery_attempts_total\{[^}]*\boutcome="(\w+)"[^}]*\} (\S+)$/gm;
const COMMANDS = /^facegate_commands_total\{outcome="(\w+)"\} (\S+)$/gm;
const PERSON_SYNC = /^facegate_person_sync\{status="(\w+)"\} (\S+)$/gm;
const DEPTH = /^facegate_outbox_depth\{[^}]*\} (\S+)$/gm;
const gauge = (text: string, name: string) => {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
};

/** Reads them once; undefined when the bridge does not answer within 5 s (a figure missing, not a failed run). */
export async function bridgeCounters(httpUrl: string): Promise<BridgeCounters | undefined> {
  try {
    const response = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    const text = await response.text();
    const attempts: Record<string, number> = {};
    for (const [, outcome, value] of text.matchAll(ATTEMPTS)) attempts[outcome] = (attempts[outcome] ?? 0) + Number(value);
    const commands: Record<string, number> = {};
    for (const [, outcome, value] of text.matchAll(COMMANDS)) commands[outcome] = Number(value);
    const personSync: Record<string, number> = {};
    for (const [, status, value] of text.matchAll(PERSON_SYNC)) personSync[status] = Number(value);
    let outboxDepth = 0;
    for (const [, value] of text.matchAll(DEPTH)) outboxDepth += Number(value);
    return {
      attempts,
      outboxDepth,
      heapUsedBytes: gauge(text, 'nodejs_heap_size_used_bytes'),
      heapTotalBytes: gauge(text, 'nodejs_heap_size_total_bytes'),
      externalBytes: gauge(text, 'nodejs_external_memory_bytes'),
      commands,
      terminalsOnline: gauge(text, 'facegate_terminals_online'),
      personSync,
      commits: gauge(text, 'facegate_commit_seconds_count'),
      commitSeconds: gauge(text, 'facegate_commit_seconds_sum'),
    };
  } catch {
    return undefined;
  }
}

export interface CounterSample extends BridgeCounters {
  /** Monotonic ms (clock.ts). */
  at: number;
}

/**
 * Reads the counters every `everyMs` until stopped, one read at a time (a
 * slow answer delays the next instead of piling reads up on the bridge).
 */
export function sampleCounters(httpUrl: string, everyMs: number) {
  const samples: CounterSample[] = [];
  let reading = false;
  const timer = setInterval(() => {
    if (reading) return;
    reading = true;
    const at = monotonicMs();
    void bridgeCounters(httpUrl)
      .then((counters) => {
        if (counters) samples.push({ at, ...counters });
      })
      .finally(() => (reading = false));
  }, everyMs);
  return { samples, stop: () => clearInterval(timer) };
}
