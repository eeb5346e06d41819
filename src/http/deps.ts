import type { RequestIdVariables } from 'hono/request-id';
import type { Commands } from '../commands/commands.ts';
import type { Endpoints } from '../delivery/endpoints.ts';
import type { DeliveryWorker } from '../delivery/worker.ts';
import type { StreamHub } from '../events/stream-hub.ts';
import type { Logger } from '../lib/log.ts';
import type { Metrics } from '../lib/metrics.ts';
import type { PeopleSync } from '../people/sync.ts';
import type { Store } from '../store/store.ts';
import type { Presence } from '../terminals/presence.ts';
import type { Caller, Callers } from './callers.ts';

// What the routes are given (createApp in app.ts), apart from the app that
// mounts them so that no route module imports the module importing it.

export interface AppDeps {
  /** The admin token now: it can change while the bridge runs (a rotation). */
  adminToken: () => string;
  /** Who may call: the admin token and the named tokens (README §Tokens and roles). */
  callers: Callers;
  bodyLimit: number;
  commands: Commands;
  /** README §People on the terminals: woken after each change of a person. */
  people: PeopleSync;
  presence: Presence;
  store: Store;
  /** Every change of an endpoint goes through it. */
  endpoints: Endpoints;
  delivery: DeliveryWorker;
  hub: StreamHub;
  /** Interval of the live stream's keep-alive comments. */
  streamPingMs?: number;
  /** Bytes a stream client may leave unread before it is dropped. */
  streamMaxBufferedBytes?: number;
  log: Logger;
  /** Database writable and broker connected. */
  ready: () => boolean;
  /** What an operator must fix although the bridge is ready (a broker that drops queued messages), for /readyz. */
  warnings: () => string[];
  /** README §Running several replicas: the slots this replica holds, for /readyz; absent without slots. */
  slots?: () => number[];
  metrics: Metrics;
  /** DEFAULT_DEVICE and DEVICES: where POST / sends. */
  defaultDevice?: string;
  devices: readonly string[];
  /** MAX_TERMINALS: a fan-out names at most this many serials. */
  maxTerminals: number;
  /** The embedded broker, or a client of the site's (GET /api/info). */
  broker: 'embedded' | 'external';
  /** When this process started (GET /api/info). */
  startedAt: number;
}

/** `caller`: who made the request, set by the token check (unset on open routes). */
export type Env = { Variables: { log: Logger; caller: Caller } & RequestIdVariables };
