import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { createReplies } from '../../src/commands/replies.ts';
import { SendQuery } from '../../src/http/commands.ts';
import { replyCandidate } from '../../src/ingest/interpret.ts';
import { commandEventFields, withReplyField } from '../../src/store/command-text.ts';

// The pure parts of commands with replies (README §Commands with replies).

describe('replyCandidate', () => {
  it('names the xxxD an xxxU answers, and the REPLY_FIELD value when it is a string', () => {
    expect(replyCandidate('openDoorU', {}, undefined)).toEqual({ cmd: 'openDoorD' });
    expect(replyCandidate('openDoorU', { tag: 'cmd_1' }, 'tag')).toEqual({ cmd: 'openDoorD', tag: 'cmd_1' });
    expect(replyCandidate('openDoorU', { tag: 'cmd_1' }, undefined)).toEqual({ cmd: 'openDoorD' });
    expect(replyCandidate('openDoorU', { tag: 7 }, 'tag')).toEqual({ cmd: 'openDoorD' });
    expect(replyCandidate('openDoorU', { tag: '' }, 'tag')).toEqual({ cmd: 'openDoorD' });
  });

  it('takes a message not named xxxU only by its REPLY_FIELD value', () => {
    expect(replyCandidate('status', {}, 'tag')).toBeUndefined();
    expect(replyCandidate('U', {}, undefined)).toBeUndefined();
    expect(replyCandidate('status', { tag: 'cmd_2' }, 'tag')).toEqual({ tag: 'cmd_2' });
  });
});

describe('withReplyField', () => {
  it('puts the id first into the JSON object, unless the field is unset or present', () => {
    expect(JSON.parse(withReplyField('{"cmd":"x","a":[1]}', 'tag', 'cmd_1', false))).toEqual({ tag: 'cmd_1', cmd: 'x', a: [1] });
    expect(withReplyField('{}', 'tag', 'cmd_1', false)).toBe('{"tag":"cmd_1"}');
    expect(withReplyField('{"cmd":"x","tag":"mine"}', 'tag', 'cmd_1', true)).toBe('{"cmd":"x","tag":"mine"}');
    expect(withReplyField('{"cmd":"x"}', undefined, 'cmd_1', false)).toBe('{"cmd":"x"}');
  });
});

describe('commandEventFields', () => {
  it('is JSON with the command id, its name and the reply as stored, or null', () => {
    expect(JSON.parse(commandEventFields('cmd_1', 'open"D', '{"cmd":"openU"}'))).toEqual({ command_id: 'cmd_1', cmd: 'open"D', reply: { cmd: 'openU' } });
    expect(JSON.parse(commandEventFields('cmd_1', 'openD', null))).toEqual({ command_id: 'cmd_1', cmd: 'openD', reply: null });
  });
});

describe('SendQuery', () => {
  const parse = (query: object) => v.safeParse(SendQuery, query);
  it('takes the configuration grammar within the bounds', () => {
    expect(parse({ wait: '500ms', ttl: '7d' }).output).toEqual({ wait: 500, ttl: 604_800_000 });
    expect(parse({ wait: '60', ttl: '1.5h' }).output).toEqual({ wait: 60_000, ttl: 5_400_000 });
  });
  it.each([{ wait: '0' }, { wait: '60001ms' }, { wait: '1m1s' }, { ttl: '0s' }, { ttl: '8d' }, { ttl: 'soon' }])('refuses %o', (query) => {
    expect(parse(query).success).toBe(false);
  });
});

describe('createReplies', () => {
  const replied = (commandId: string) => ({ commandId, sn: 'D1', cmd: 'openD', publishedAt: 1, repliedAt: 2, reply: '{"cmd":"openU"}' });

  it('wakes the waiters of that command with its reply, and leaves nothing behind', async () => {
    const replies = createReplies();
    const a = replies.wait('cmd_a', 60_000);
    const b = replies.wait('cmd_b', 60_000);
    expect(replies.size).toBe(2);
    replies.replied(replied('cmd_a'));
    expect(await a.reply).toEqual(replied('cmd_a'));
    expect(replies.size).toBe(1);
    b.cancel();
    expect(await b.reply).toBeUndefined();
    expect(replies.size).toBe(0);
  });

  it('ends a wait when its time is over', async () => {
    const replies = createReplies();
    expect(await replies.wait('cmd_a', 5).reply).toBeUndefined();
    expect(replies.size).toBe(0);
  });

  it('removes the waiter of a client that went away', async () => {
    const replies = createReplies();
    const client = new AbortController();
    const waiting = replies.wait('cmd_a', 60_000, client.signal);
    client.abort();
    expect(await waiting.reply).toBeUndefined();
    expect(replies.size).toBe(0);
    const gone = new AbortController();
    gone.abort();
    expect(await replies.wait('cmd_b', 60_000, gone.signal).reply).toBeUndefined();
    expect(replies.size).toBe(0);
  });
});
