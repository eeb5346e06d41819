import { createHmac, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { maskSecret, secretProblem, sign, signingKey } from '../../src/delivery/sign.ts';

const KEY_B64 = 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const WHSEC = `whsec_${KEY_B64}`;
const ID = 'evt_0123456789abcdefghijklmn';
const TS = 1_795_341_600; // 2026-11-22T10:00:00Z
const BODY = '{"type":"face.verified","id":"evt_0123456789abcdefghijklmn","user_id":"1001"}';

/** The HMAC computed here, apart from the module under test. */
const hmac = (key: Buffer, content: string) => `v1,${createHmac('sha256', key).update(content, 'utf8').digest('base64')}`;

describe('secretProblem', () => {
  it('takes whsec_ secrets of 16 bytes or more, padded or not, and plain ones of 16 characters or more', () => {
    for (const secret of [
      WHSEC,
      `whsec_${randomBytes(16).toString('base64')}`,
      `whsec_${randomBytes(17).toString('base64')}`,
      'plain-shared-secret',
      '16 characters!!!',
    ]) {
      expect(secretProblem(secret)).toBeUndefined();
    }
  });

  it.each([
    ['whsec_!!!!!!!!!!!!!!!!!!!!', /base64/],
    ['whsec_my secret passphrase!', /base64/],
    [`whsec_${KEY_B64.slice(1)}`, /base64/],
    [`whsec_${randomBytes(15).toString('base64')}`, /16 bytes/],
    ['whsec_', /16 bytes/],
    ['15 characters!!', /16 characters/],
  ])('refuses %s', (secret, problem) => {
    expect(secretProblem(secret)).toMatch(problem);
  });
});

describe('signingKey', () => {
  it('decodes the base64 after the whsec_ prefix', () => {
    expect(signingKey(WHSEC)).toEqual(Buffer.from(KEY_B64, 'base64'));
    expect(signingKey(WHSEC)).toHaveLength(24);
  });

  it('decodes random 32-byte keys exactly', () => {
    const bytes = randomBytes(32);
    expect(signingKey(`whsec_${bytes.toString('base64')}`).equals(bytes)).toBe(true);
  });

  it('uses any other string as its UTF-8 bytes', () => {
    expect(signingKey('my-plain-secret-123')).toEqual(Buffer.from('my-plain-secret-123', 'utf8'));
  });

  it('uses the UTF-8 bytes of a non-ASCII secret', () => {
    const key = signingKey('clé-秘密-🔑');
    expect(key).toEqual(Buffer.from([...new TextEncoder().encode('clé-秘密-🔑')]));
    expect(key.length).toBe(16); // c l é(2) - 秘(3) 密(3) - 🔑(4)
  });

  it('does not decode a string that has whsec_ elsewhere than at the start', () => {
    expect(signingKey(`x${WHSEC}`)).toEqual(Buffer.from(`x${WHSEC}`, 'utf8'));
  });

  it('does not treat a prefix in another case as whsec_', () => {
    expect(signingKey(`WHSEC_${KEY_B64}`)).toEqual(Buffer.from(`WHSEC_${KEY_B64}`, 'utf8'));
  });
});

describe('sign', () => {
  it('gives v1, then a base64 SHA-256 HMAC', () => {
    expect(sign(signingKey(WHSEC), ID, TS, BODY)).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
  });

  it('matches the Standard Webhooks test vector', () => {
    const signature = sign(signingKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'), 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
    expect(signature).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('signs "{id}.{timestamp}.{body}" as node:crypto does', () => {
    const key = signingKey(WHSEC);
    expect(sign(key, ID, TS, BODY)).toBe(hmac(key, `${ID}.${TS}.${BODY}`));
  });

  it('signs with a plain-string key as node:crypto does', () => {
    const key = signingKey('a plain secret, not base64!');
    expect(sign(key, ID, TS, BODY)).toBe(hmac(Buffer.from('a plain secret, not base64!', 'utf8'), `${ID}.${TS}.${BODY}`));
  });

  it('signs a unicode body as its UTF-8 bytes', () => {
    const body = JSON.stringify({ name: '张三', note: 'café ✓ 🚪' });
    const key = signingKey(WHSEC);
    expect(sign(key, ID, TS, body)).toBe(hmac(key, `${ID}.${TS}.${body}`));
    // Not as latin1: the bytes, not the UTF-16 code units, are signed.
    expect(sign(key, ID, TS, body)).not.toBe(`v1,${createHmac('sha256', key).update(`${ID}.${TS}.${body}`, 'latin1').digest('base64')}`);
  });

  it('signs an empty body', () => {
    const key = signingKey(WHSEC);
    expect(sign(key, ID, TS, '')).toBe(hmac(key, `${ID}.${TS}.`));
  });

  it('changes with the id, the timestamp, the body and the key', () => {
    const key = signingKey(WHSEC);
    const base = sign(key, ID, TS, BODY);
    expect(sign(key, 'evt_other', TS, BODY)).not.toBe(base);
    expect(sign(key, ID, TS + 1, BODY)).not.toBe(base);
    expect(sign(key, ID, TS, `${BODY} `)).not.toBe(base);
    expect(sign(signingKey('whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), ID, TS, BODY)).not.toBe(base);
  });

  it('is deterministic', () => {
    expect(sign(signingKey(WHSEC), ID, TS, BODY)).toBe(sign(signingKey(WHSEC), ID, TS, BODY));
  });

  describe('against the standardwebhooks library', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('gives the signature Webhook.sign gives for a whsec_ secret', () => {
      expect(sign(signingKey(WHSEC), ID, TS, BODY)).toBe(new Webhook(WHSEC).sign(ID, new Date(TS * 1000), BODY));
    });

    it('gives the signature Webhook.sign gives for a unicode body', () => {
      const body = JSON.stringify({ type: 'face.verified', name: 'Zhang San 张三', note: 'Ünïcödé 🚪' });
      expect(sign(signingKey(WHSEC), ID, TS, body)).toBe(new Webhook(WHSEC).sign(ID, new Date(TS * 1000), body));
    });

    it('gives the signature Webhook.sign gives for a plain secret used as raw UTF-8 bytes', () => {
      const secret = 'plain secret with ünïcode';
      const reference = new Webhook(new TextEncoder().encode(secret), { format: 'raw' });
      expect(sign(signingKey(secret), ID, TS, BODY)).toBe(reference.sign(ID, new Date(TS * 1000), BODY));
    });

    it('is verified by Webhook.verify', () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(TS * 1000 + 2_000);
      const body = JSON.stringify({ type: 'face.verified', id: ID, name: '张三', verifiedCode: 0 });
      const headers = { 'webhook-id': ID, 'webhook-timestamp': String(TS), 'webhook-signature': sign(signingKey(WHSEC), ID, TS, body) };
      expect(new Webhook(WHSEC).verify(body, headers)).toEqual(JSON.parse(body));
    });

    it('is verified for a random whsec_ key', () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(TS * 1000);
      const secret = `whsec_${randomBytes(32).toString('base64')}`;
      const headers = { 'webhook-id': ID, 'webhook-timestamp': String(TS), 'webhook-signature': sign(signingKey(secret), ID, TS, BODY) };
      expect(new Webhook(secret).verify(BODY, headers)).toEqual(JSON.parse(BODY));
    });

    it('is refused by Webhook.verify when the body was changed', () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(TS * 1000);
      const headers = { 'webhook-id': ID, 'webhook-timestamp': String(TS), 'webhook-signature': sign(signingKey(WHSEC), ID, TS, BODY) };
      expect(() => new Webhook(WHSEC).verify(BODY.replace('1001', '1002'), headers)).toThrow(/No matching signature/);
    });

    it('is refused by Webhook.verify under another secret', () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(TS * 1000);
      const headers = { 'webhook-id': ID, 'webhook-timestamp': String(TS), 'webhook-signature': sign(signingKey(WHSEC), ID, TS, BODY) };
      expect(() => new Webhook(`whsec_${randomBytes(24).toString('base64')}`).verify(BODY, headers)).toThrow(/No matching signature/);
    });
  });
});

describe('maskSecret', () => {
  it('shows the whsec_ prefix and the last 4 characters', () => {
    expect(maskSecret(WHSEC)).toBe('whsec_…LaSw');
  });

  it('shows only the last 4 characters of another secret', () => {
    expect(maskSecret('my-very-secret-string-1234')).toBe('…1234');
  });

  it.each([
    ['a whsec_ secret', WHSEC],
    ['a plain secret', 'correct horse battery staple'],
    ['a unicode secret', 'clé-秘密-très-secrète'],
    ['a random whsec_ secret', `whsec_${randomBytes(32).toString('base64')}`],
  ])('never shows more of %s than its last 4 characters', (_label, secret) => {
    const masked = maskSecret(secret);
    const prefix = secret.startsWith('whsec_') ? 'whsec_' : '';
    expect(masked.startsWith(prefix)).toBe(true);
    const shown = masked.slice(prefix.length).replace('…', '');
    expect(shown).toBe(secret.slice(-4));
    // Nothing before the last 4 characters leaks.
    expect(masked).not.toContain(secret.slice(prefix.length, -4).slice(0, 5));
  });

  it('tells two secrets apart by their ends', () => {
    expect(maskSecret('secret-number-one-AAAA')).not.toBe(maskSecret('secret-number-one-BBBB'));
  });

  it('shows nothing of a secret shorter than 16 characters', () => {
    expect(maskSecret('abcdefg')).toBe('…');
    expect(maskSecret('ab')).toBe('…');
    expect(maskSecret('whsec_abc')).toBe('whsec_…');
  });
});
