import { secureHeaders } from 'hono/secure-headers';

/**
 * The headers every response carries: JSON, the console, the docs page, a
 * face image a terminal supplied, the live stream. A response that sets a
 * header of its own keeps it (the console and the docs page set their own
 * Content-Security-Policy); the default one allows nothing, which is right for
 * JSON and for an image shown by itself.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'x-dns-prefetch-control': 'off',
  'x-permitted-cross-domain-policies': 'none',
  // Browsers take it only over HTTPS (behind a proxy that ends TLS): there it keeps them on it.
  'strict-transport-security': 'max-age=15552000; includeSubDomains',
};

/** hono's secureHeaders with the values above, not overwriting what a route set. */
export function securityHeaders() {
  return secureHeaders({
    contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    xContentTypeOptions: SECURITY_HEADERS['x-content-type-options'],
    xFrameOptions: SECURITY_HEADERS['x-frame-options'],
    referrerPolicy: SECURITY_HEADERS['referrer-policy'],
    crossOriginResourcePolicy: SECURITY_HEADERS['cross-origin-resource-policy'],
    crossOriginOpenerPolicy: SECURITY_HEADERS['cross-origin-opener-policy'],
    crossOriginEmbedderPolicy: false,
    originAgentCluster: SECURITY_HEADERS['origin-agent-cluster'],
    xDnsPrefetchControl: SECURITY_HEADERS['x-dns-prefetch-control'],
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: SECURITY_HEADERS['x-permitted-cross-domain-policies'],
    strictTransportSecurity: SECURITY_HEADERS['strict-transport-security'],
    xXssProtection: false,
    removePoweredBy: true,
    overwrite: false,
  });
}
