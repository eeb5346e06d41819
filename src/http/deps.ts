import type { RequestIdVariables } from 'hono/request-id';
import type { Commands } from '../commands/commands.ts';
import type { DeliveryWorker } from '../delivery/worker.ts';
import type { StreamHub } from '../events/stream-hub.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { Reads } from '../store/sqlite/reads.ts';
import type { Writer } from '../store/sqlite/writer.ts';
import type { Presence } from '../terminals/presence.ts';

// What the routes are given, apart from app.ts which assembles them: the
// route files import these, app.ts imports the route files.

export interface AppDeps {
  /** The admin token now: it can change while the bridge runs (a rotation). */
  adminToken: () => string;
  bodyLimit: number;
  commands: Commands;
  presence: Presence;
  reads: Reads;
  writer: Writer;
  delivery: DeliveryWorker;
  hub: StreamHub;
  /** Interval of the live stream's keep-alive comments. */
  streamPingMs?: number;
  /** Bytes a stream client may leave unread before it is dropped. */
  streamMaxBufferedBytes?: number;
  log: Logger;
  /** Database writable and broker connected. */
  ready: () => boolean;
  metrics: Metrics;
  /** DEFAULT_DEVICE and DEVICES: where POST / sends. */
  defaultDevice?: string;
  devices: readonly string[];
}

export type Env = { Variables: { log: Logger } & RequestIdVariables };
