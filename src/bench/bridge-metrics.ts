/** What the bridge's /metrics says about delivery: attempts by outcome, and deliveries still waiting. */
export interface DeliveryCounters {
  /** facegate_delivery_attempts_total by outcome (delivered, retry, dead, gone). */
  attempts: Record<string, number>;
  /** facegate_outbox_depth summed over endpoints. */
  outboxDepth: number;
}

const ATTEMPTS = /^facegate_delivery_attempts_total\{outcome="(\w+)"\} (\S+)$/gm;
const DEPTH = /^facegate_outbox_depth\{[^}]*\} (\S+)$/gm;

/** Reads them once; undefined when the bridge does not answer within 5 s (a figure missing, not a failed run). */
export async function deliveryCounters(httpUrl: string): Promise<DeliveryCounters | undefined> {
  try {
    const response = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    const text = await response.text();
    const attempts: Record<string, number> = {};
    for (const [, outcome, value] of text.matchAll(ATTEMPTS)) attempts[outcome] = Number(value);
    let outboxDepth = 0;
    for (const [, value] of text.matchAll(DEPTH)) outboxDepth += Number(value);
    return { attempts, outboxDepth };
  } catch {
    return undefined;
  }
}
