import type { StoredEvent } from '../events/events.ts';
import type { DisabledReason, Endpoint, Store } from '../store/store.ts';

/**
 * Endpoints in all, ep_default included: each has a delivery lane (a
 * connection pool, a queue) and a delivery per event of its types, and
 * GET /api/webhooks lists them all on one page. WEBHOOK_URL's endpoint is
 * kept even past it: the configuration wins over what was added by API.
 */
export const ENDPOINT_LIMIT = 64;

/** README §Webhooks: the endpoint of WEBHOOK_URL. */
export const DEFAULT_ENDPOINT = 'ep_default';

/** An endpoint to add; `format` is `standard` and `lang` `zh-CN` unless given (README §Alerts in chat apps). */
export type NewEndpoint = Omit<Endpoint, 'createdAt' | 'enabled' | 'disabledReason' | 'format' | 'lang'> & Partial<Pick<Endpoint, 'format' | 'lang'>>;

/**
 * The one way endpoints change (README §Webhooks): added or removed by the
 * API, enabled or disabled by the API, by WEBHOOK_URL at start or by a 410.
 * Each change is committed first, then told to whoever keeps endpoints in
 * memory (the delivery lanes), so none of them can miss one. The writer
 * thread's list of endpoints to enqueue for is reloaded by the endpoint jobs
 * themselves, in the same commit. Events a change makes (endpoint.disabled)
 * go to `stored` once committed.
 */
export function createEndpoints(store: Store, stored: (events: StoredEvent[]) => void = () => {}, told: () => void = () => {}) {
  const listeners = new Set<() => Promise<void>>();
  const reload = async () => {
    for (const listener of listeners) await listener();
  };
  // README §Running several replicas: the other replicas' listeners reload too (`told`).
  const changed = async () => {
    await reload();
    told();
  };
  // One addition at a time: the count and the insert must not interleave
  // with another's, or two at once would both pass at ENDPOINT_LIMIT - 1.
  let adding: Promise<unknown> = Promise.resolve();

  async function disable(id: string, reason: DisabledReason): Promise<void> {
    const { events } = await store.write({ kind: 'endpoint-state', id, enabled: false, reason });
    await changed();
    // A 410's endpoint.disabled (README §Alerts in chat apps), once the lanes know of the change.
    if (events.length > 0) stored(events);
  }

  return {
    list: () => store.endpoints(),
    get: (id: string) => store.endpoint(id),

    /** Adds an endpoint, enabled; with ENDPOINT_LIMIT of them already, adds nothing and says how many there are. */
    async add(endpoint: NewEndpoint): Promise<{ added: true } | { added: false; count: number }> {
      const added = adding.then(async () => {
        const count = await store.endpointCount();
        if (count >= ENDPOINT_LIMIT) return { added: false as const, count };
        const row = { format: 'standard' as const, lang: 'zh-CN' as const, ...endpoint, enabled: true, disabledReason: null };
        await store.write({ kind: 'endpoint', endpoint: row, at: Date.now() });
        return { added: true as const };
      });
      adding = added.catch(() => {});
      const result = await added;
      if (result.added) await changed();
      return result;
    },

    /**
     * WEBHOOK_URL at start (README §Webhooks): the default endpoint follows
     * it. Without it, the endpoint is disabled (`config`), not removed: what
     * it owes waits, visible by API. With it, a disabled one (a 410, an
     * admin) stays so while its URL is the same.
     */
    async configureDefault(url: string | undefined, secret: string | undefined): Promise<void> {
      const existing = await store.endpoint(DEFAULT_ENDPOINT);
      if (!url) {
        if (existing?.enabled) await disable(DEFAULT_ENDPOINT, 'config');
        return;
      }
      // A receiver that answered 410 (or an endpoint an admin disabled) stays disabled across restarts unless its URL changed.
      const keepDisabled = existing && !existing.enabled && existing.url === url && existing.disabledReason !== 'config';
      const endpoint = {
        id: DEFAULT_ENDPOINT,
        url,
        secret: secret ?? null,
        eventTypes: ['face.verified' as const],
        format: 'standard' as const,
        lang: existing?.lang ?? ('zh-CN' as const),
        enabled: !keepDisabled,
        disabledReason: keepDisabled ? existing.disabledReason : null,
      };
      await store.write({ kind: 'endpoint', endpoint, at: Date.now() });
      await changed();
    },

    /** Removes an endpoint and, in steps (ADMIN_STEP each), its deliveries: the lanes let go of it after the first, which removes the row. */
    async remove(id: string): Promise<void> {
      for (let first = true; ; first = false) {
        const { more } = await store.write({ kind: 'endpoint-delete', id });
        if (first) await changed();
        if (!more) break;
      }
    },

    /** After a 410, an admin's pause or a missing WEBHOOK_URL: its waiting deliveries go out again. */
    async enable(id: string): Promise<void> {
      await store.write({ kind: 'endpoint-state', id, enabled: true, reason: null });
      await changed();
    },

    /** Nothing more is sent to it (an admin, a 410); its deliveries keep coming and wait until it is enabled. */
    disable,

    /** Told after every change, once it is committed. */
    /** Another replica changed the endpoints: the listeners here read them again. */
    changedElsewhere: () => reload(),
    onChange(listener: () => Promise<void>): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export type Endpoints = ReturnType<typeof createEndpoints>;
