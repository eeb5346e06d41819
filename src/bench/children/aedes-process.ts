import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import { AEDES_CONCURRENCY } from '../../transport/embedded.ts';
import { exitWithParent } from './child.ts';

// A bare aedes broker in a process of its own, for the relay and echo
// ceilings of the embedded case: the same broker library the bridge embeds,
// with nothing of the bridge around it. In the benchmark's process it would
// share an event loop with the load generator and measure both.

exitWithParent();

// The bridge's setting, so the ceiling is the same broker.
const broker = await Aedes.createBroker({ concurrency: AEDES_CONCURRENCY });
// As the bridge does: Nagle would hold small packets back for up to 40 ms.
const server = createServer({ noDelay: true }, broker.handle);
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', () => resolve());
});
const address = server.address();
if (address === null || typeof address === 'string') throw new Error('aedes: no TCP address');
// ceilings.ts waits for this line.
process.stdout.write(`aedes ready ${address.port}\n`);
