import { describe, expect, it } from 'vitest';
import { isSerial } from '../../src/protocol/serial.ts';
import { topicTemplate } from '../../src/protocol/topics.ts';

describe('isSerial', () => {
  it.each(['1', '123456789', 'A-1', 'x_y', 'dev.01', 'mac:00:1A:2b', 'a'.repeat(64)])('takes %j', (sn) => {
    expect(isSerial(sn)).toBe(true);
  });

  it.each(['', 'a'.repeat(65), 'a b', ' a', 'a\n', '门禁01', 'café', '-a', '_a', '.a', ':a', 'a/b', 'a+b', 'a#b', 'a\u0000b', 'a,b'])('refuses %j', (sn) => {
    expect(isSerial(sn)).toBe(false);
  });
});

describe('topicTemplate', () => {
  describe('default one-level template fungxi_{sn}_upLink', () => {
    const up = topicTemplate('fungxi_{sn}_upLink');

    it('keeps the template text', () => {
      expect(up.template).toBe('fungxi_{sn}_upLink');
    });

    it('widens the level to + (fungxi_+_upLink is not a valid filter)', () => {
      expect(up.wildcard).toBe('+');
    });

    it('builds the topic of a serial', () => {
      expect(up.topicOf('123456789')).toBe('fungxi_123456789_upLink');
    });

    it('reads the serial of a matching topic', () => {
      expect(up.serialOf('fungxi_123456789_upLink')).toBe('123456789');
    });

    it.each(['fungxi_123456789_downLink', 'other_123456789_upLink', 'fungxi_123456789_upLink/extra', 'fungxi_123456789', ''])(
      'answers undefined for the non-matching topic %j',
      (topic) => {
        expect(up.serialOf(topic)).toBeUndefined();
      },
    );

    it('answers undefined for an empty serial', () => {
      expect(up.serialOf('fungxi__upLink')).toBeUndefined();
    });

    it('answers undefined when the serial holds a slash', () => {
      expect(up.serialOf('fungxi_12/34_upLink')).toBeUndefined();
    });

    it('round-trips topicOf through serialOf', () => {
      for (const sn of ['123456789', 'A-1', 'x_y', 'dev.01']) expect(up.serialOf(up.topicOf(sn))).toBe(sn);
    });
  });

  describe('multi-level template site/{sn}/up', () => {
    const up = topicTemplate('site/{sn}/up');

    it('puts + at the level holding {sn}', () => {
      expect(up.wildcard).toBe('site/+/up');
    });

    it('builds and reads the topic of a serial', () => {
      expect(up.topicOf('42')).toBe('site/42/up');
      expect(up.serialOf('site/42/up')).toBe('42');
    });

    it('rejects a serial spanning several levels', () => {
      expect(up.serialOf('site/a/b/up')).toBeUndefined();
    });

    it('rejects topics of other shapes', () => {
      expect(up.serialOf('site/42/down')).toBeUndefined();
      expect(up.serialOf('other/42/up')).toBeUndefined();
      expect(up.serialOf('site//up')).toBeUndefined();
    });
  });

  describe('{sn} in the middle of a level: a/dev-{sn}-x/b', () => {
    const up = topicTemplate('a/dev-{sn}-x/b');

    it('widens the whole level to +', () => {
      expect(up.wildcard).toBe('a/+/b');
    });

    it('reads the serial out of the level', () => {
      expect(up.topicOf('7')).toBe('a/dev-7-x/b');
      expect(up.serialOf('a/dev-7-x/b')).toBe('7');
    });

    it('rejects a topic the wildcard matches but the template does not', () => {
      expect(up.serialOf('a/other/b')).toBeUndefined();
    });
  });

  it('puts + at the first level for {sn}/up', () => {
    const up = topicTemplate('{sn}/up');
    expect(up.wildcard).toBe('+/up');
    expect(up.serialOf('abc/up')).toBe('abc');
  });

  it('answers undefined for a serial that is no serial: too long, spaces, letters outside ASCII', () => {
    const up = topicTemplate('fungxi_{sn}_upLink');
    for (const sn of ['A'.repeat(60_000), 'A'.repeat(65), 'a b', '门禁01', 'café', '-leading']) expect(up.serialOf(`fungxi_${sn}_upLink`)).toBeUndefined();
    expect(up.serialOf(`fungxi_${'A'.repeat(64)}_upLink`)).toBe('A'.repeat(64));
    const multi = topicTemplate('site/{sn}/up');
    expect(multi.serialOf(`site/${'A'.repeat(65)}/up`)).toBeUndefined();
  });

  it('rejects serials holding MQTT wildcards', () => {
    const up = topicTemplate('fungxi_{sn}_upLink');
    expect(up.serialOf('fungxi_+_upLink')).toBeUndefined();
    expect(up.serialOf('fungxi_#_upLink')).toBeUndefined();
  });
});
