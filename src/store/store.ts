// What the store holds, in the words of the rest of the bridge: the states a
// delivery, a command and an endpoint take. Each engine's schema stores
// these values and no others.

/** README §Webhooks: waiting (for its first attempt or a retry), delivered, or given up after the last retry. */
export const DELIVERY_STATUSES = ['pending', 'delivered', 'dead'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** README §POST /api/devices/{sn}/commands: the broker acknowledged it, or it could not be sent. */
export const COMMAND_STATUSES = ['published', 'failed'] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

/**
 * Why an endpoint is disabled (README §Webhooks): `config`, the default
 * endpoint without WEBHOOK_URL; `gone`, its receiver answered 410; `admin`,
 * by POST /api/webhooks/{id}/disable.
 */
export const DISABLED_REASONS = ['config', 'gone', 'admin'] as const;
export type DisabledReason = (typeof DISABLED_REASONS)[number];

/** Of a malformed message, the store keeps this much of its start (README §Malformed messages). */
export const SAMPLE_BYTES = 2048;

/**
 * A write that ended the store's writer on its own (README §What survives
 * what): applying it again would end it again, so it is never committed.
 * It carries the start of its payload and its size, for the reject that
 * stands for it.
 */
export class Unprocessable extends Error {
  constructor(
    readonly detail: string,
    readonly sample: Uint8Array,
    readonly size: number,
  ) {
    super(`database write failed: ${detail}`);
  }
}
