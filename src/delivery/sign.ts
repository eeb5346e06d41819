import { createHmac } from 'node:crypto';

/**
 * The signing key of a secret as Standard Webhooks defines it: a `whsec_`
 * secret is base64 after the prefix; any other string is used as its UTF-8 bytes.
 */
export function signingKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MIN_SECRET = 16;

/**
 * Why a secret cannot sign, or undefined when it can. Node's base64 decoder
 * skips what is not base64, so `whsec_!!!…` would sign with an empty key,
 * which anyone can compute; receivers' libraries refuse such a secret outright.
 */
export function secretProblem(secret: string): string | undefined {
  if (!secret.startsWith('whsec_')) return secret.length < MIN_SECRET ? `secret must have at least ${MIN_SECRET} characters` : undefined;
  const base64 = secret.slice('whsec_'.length);
  if (!BASE64.test(base64)) return 'a whsec_ secret must be base64 after the prefix';
  return Buffer.from(base64, 'base64').length < MIN_SECRET ? `a whsec_ secret must hold at least ${MIN_SECRET} bytes` : undefined;
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
