/**
 * A webhook URL: http(s), and credentials in it (`https://user:pass@host/…`)
 * that go out as Basic authorization, which undici does not send by itself.
 * They must be valid percent-encoding: `u:50%off@` parses as a URL, but its
 * password cannot be decoded, and a stored one broke every later start.
 */
export function webhookUrlProblem(text: string): string | undefined {
  if (!URL.canParse(text) || !/^https?:$/.test(new URL(text).protocol)) return 'url must be an http:// or https:// URL';
  const url = new URL(text);
  if (decoded(url.username) === undefined || decoded(url.password) === undefined) {
    return 'the user name and password in a url must be percent-encoded (write % as %25)';
  }
  return undefined;
}

/** The Authorization header for the credentials of a URL that passed webhookUrlProblem; undefined without credentials. */
export function basicAuthorization(url: URL): string | undefined {
  if (!url.username && !url.password) return undefined;
  const credentials = `${decoded(url.username)}:${decoded(url.password)}`;
  return `Basic ${Buffer.from(credentials).toString('base64')}`;
}

function decoded(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}
