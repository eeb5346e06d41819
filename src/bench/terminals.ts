import { topicTemplate } from '../protocol/topics.ts';
import { heartU } from '../kit/records.ts';
import { startTerminal, type Terminal } from '../sim/terminal.ts';
import { withTimeout } from '../kit/wait.ts';

// The benchmark talks to the bridge as terminals with the default topics do.
export const UPLINK = topicTemplate('fungxi_{sn}_upLink');
export const DOWNLINK = topicTemplate('fungxi_{sn}_downLink');

export function serials(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(4, '0')}`);
}

/** Connects and subscribes them all (in parallel, each within 15 s), or none: on a failure the connected ones are closed. */
export async function startTerminals(url: string, sns: string[]): Promise<Terminal[]> {
  const started = await Promise.allSettled(
    sns.map((sn) => withTimeout(startTerminal({ url, sn, uplink: UPLINK, downlink: DOWNLINK, qos: 0 }), 15_000, `connecting terminal ${sn}`)),
  );
  const terminals = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stopTerminals(terminals);
    throw failed.reason;
  }
  return terminals;
}

export async function stopTerminals(terminals: Terminal[]): Promise<void> {
  await withTimeout(Promise.allSettled(terminals.map((t) => t.stop(0))), 10_000, 'disconnecting terminals').catch(() => {});
}

/**
 * Waits until the bridge answers a heartbeat: /readyz says the bridge is
 * connected, not that its subscription to the upLinks is in place yet.
 */
export async function awaitHeartD(url: string, timeoutMs = 15_000): Promise<void> {
  const [terminal] = await startTerminals(url, ['BENCHPROBE']);
  try {
    let answered!: () => void;
    const heartD = new Promise<void>((resolve) => (answered = resolve));
    terminal.onMessage((message) => {
      if (message.cmd === 'heartD') answered();
    });
    // heartU and heartD are QoS 0: one sent before the subscription is lost, so ask again.
    const again = setInterval(() => void terminal.send(heartU()).catch(() => {}), 250);
    void terminal.send(heartU()).catch(() => {});
    try {
      await withTimeout(heartD, timeoutMs, 'waiting for the bridge to answer a heartbeat');
    } finally {
      clearInterval(again);
    }
  } finally {
    await stopTerminals([terminal]);
  }
}
