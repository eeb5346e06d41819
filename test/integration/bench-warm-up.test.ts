import { afterEach, expect, it } from 'vitest';
import { awaitHeartD, type BridgeProcess, startBridge } from '../../src/bench/children/bridge.ts';
import { type Receiver, receiverUrl, startReceiver } from '../../src/bench/children/receiver.ts';
import { runDeliveryBurst } from '../../src/bench/scenarios/delivery-burst.ts';
import { freePort } from '../../src/kit/ports.ts';
import { encodeLoad } from '../../src/kit/records.ts';

let bridge: BridgeProcess | undefined;
let receiver: Receiver | undefined;

afterEach(async () => {
  await bridge?.dispose();
  await receiver?.dispose();
  bridge = receiver = undefined;
});

// The warm-up's records reach the same receiver before the clock starts:
// the burst's figures count its own records alone (README §Performance,
// Warmed up first).
it("a delivery burst's warm-up is delivered first, and the burst's figures leave it out", async () => {
  const port = await freePort();
  const receiving = startReceiver(port);
  bridge = await startBridge({
    sync: 'full',
    clientId: 'facegate-bench-warm-up',
    env: { WEBHOOK_URL: receiverUrl(port), IMAGES: 'inline', BROKER_PROBE: 'false' },
  });
  receiver = await receiving;
  await awaitHeartD(bridge.brokerUrl);
  const figures = await runDeliveryBurst({
    url: bridge.brokerUrl,
    httpUrl: bridge.httpUrl,
    receiver,
    payloads: encodeLoad(300, 3, new Date()),
    warmUp: encodeLoad(150, 3, new Date(), undefined, 300),
    window: 20,
    images: 'none',
    timeoutMs: 30_000,
  });
  const { sent, delivered, received, distinctIds, lost, duplicates, warmedUp, timedOut } = figures;
  expect({ sent, delivered, received, distinctIds, lost, duplicates, warmedUp, timedOut }).toEqual({
    sent: 300,
    delivered: 300,
    received: 300,
    distinctIds: 300,
    lost: 0,
    duplicates: 0,
    warmedUp: 150,
    timedOut: false,
  });
  // Every one of the 450 records was posted once.
  expect((await receiver.stats()).distinctKeys).toBe(450);
}, 60_000);
