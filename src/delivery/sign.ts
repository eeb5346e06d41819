import { createHmac } from 'node:crypto';

/**
 * The signing key of a secret as Standard Webhooks defines it: a `whsec_`
 * secret is base64 after the prefix; any other string is used as its UTF-8 bytes.
 */
export function signingKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of "{id}.{timestamp}.{body}". */
export function sign(key: Buffer, id: string, timestamp: number, body: string | Buffer): string {
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

/** What may be shown of a secret: enough to tell two apart, never enough to use. */
export function maskSecret(secret: string): string {
  const prefix = secret.startsWith('whsec_') ? 'whsec_' : '';
  // A short secret shows nothing of itself: four characters would be most of it.
  return secret.length - prefix.length >= 16 ? `${prefix}…${secret.slice(-4)}` : `${prefix}…`;
}
