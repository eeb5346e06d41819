import type { StoredEvent } from '../../events/events.ts';
import { listedView } from '../../events/view.ts';
import type { DueDelivery, Endpoint, Store } from '../../store/store.ts';
import { type Answer, retryAfterMs } from '../policy.ts';
import { alertText, digestText } from './alert-text.ts';
import { type AlertLang, CHAT_APPS, type ChatApp, type ChatFormat, chatCode, chatRequest, readChatAnswer } from './apps.ts';
import { createPace, nextStep, type Pace } from './pace.ts';

// What a delivery lane does for an endpoint whose format is a chat app
// (README §Alerts in chat apps): one request at a time, never over the app's
// limit (evenly spaced: pace.ts), an alert's words rather than the webhook
// body (never an image), and one digest when more than one alert is due.

/**
 * Due deliveries a digest looks at, at most. More than the largest digest
 * names: Feishu's and DingTalk's 16,000 bytes hold some 1,500 serials.
 */
export const DIGEST_FETCH = 2000;

/** Bytes of a chat app's answer read: its code is in the first few. */
const ANSWER_BYTES = 4096;

/** A chat endpoint's app, words and robot's pace, kept by its lane across changes of its other settings. */
export interface ChatTarget {
  format: ChatFormat;
  app: ChatApp;
  lang: AlertLang;
  secret: string | null;
  pace: Pace;
}

/** The chat side of a lane for an endpoint, or undefined for a standard one; the pace is kept while the app stays the same. */
export function chatTarget(row: Pick<Endpoint, 'format' | 'lang' | 'secret'>, before: ChatTarget | undefined): ChatTarget | undefined {
  if (row.format === 'standard') return undefined;
  const pace = before?.format === row.format ? before.pace : createPace(CHAT_APPS[row.format]);
  return { format: row.format, app: CHAT_APPS[row.format], lang: row.lang, secret: row.secret, pace };
}

/** A delivery with its event as a chat message is made of it. */
export interface ChatItem {
  delivery: DueDelivery;
  event: StoredEvent;
}

/** One message to post: the deliveries it stands for, and whether it is a digest of several. */
export interface ChatMessage {
  items: ChatItem[];
  text: string;
  digest: boolean;
}

export type ChatNext =
  /** The robot may not post before then. */
  | { waitUntil: number }
  /** Nothing due. */
  | { idle: true }
  /** A message, and due deliveries whose event is no longer stored (their attempt fails: nothing to say). */
  | { message: ChatMessage | undefined; orphans: DueDelivery[] };

/**
 * What the lane posts next, from its due deliveries (those of `skip` left
 * out: in flight, or their outcome being committed). The events are read as
 * lists read them (fields up to 64 KB, never the image).
 */
export async function nextChatMessage(store: Store, endpointId: string, target: ChatTarget, now: number, skip: (seq: number) => boolean): Promise<ChatNext> {
  const free = target.pace.free(now);
  if (free === 0) return { waitUntil: target.pace.nextAt(now) };
  const due = (await store.dueDeliveries(endpointId, now, DIGEST_FETCH)).filter((d) => !skip(d.seq));
  const step = nextStep(due.length, free);
  if (step === 'wait') return { idle: true };
  const orphans: DueDelivery[] = [];
  const items: ChatItem[] = [];
  const views: Record<string, unknown>[] = [];
  for (const delivery of step === 'single' ? due.slice(0, 1) : due) {
    const event = await store.listedEvent(delivery.eventSeq);
    if (!event) orphans.push(delivery);
    else {
      items.push({ delivery, event });
      views.push(listedView(event));
    }
  }
  if (items.length === 0) return { message: undefined, orphans };
  await addLabels(store, views);
  if (items.length === 1) return { message: { items, text: alertText(views[0], target.lang), digest: false }, orphans };
  const digest = digestText(views, target.lang, target.app.textBytes);
  return { message: { items: items.slice(0, digest.taken), text: digest.text, digest: digest.taken > 1 }, orphans };
}

/** Each view's terminal label (README §Alerts in chat apps: the terminal and its label), read once per terminal. */
async function addLabels(store: Store, views: Record<string, unknown>[]): Promise<void> {
  const labels = new Map<string, string | null>();
  for (const view of views) {
    const sn = view.device_sn;
    if (typeof sn !== 'string' || sn === '') continue;
    if (!labels.has(sn)) labels.set(sn, (await store.terminal(sn))?.label ?? null);
    const label = labels.get(sn);
    if (label) view.label = label;
  }
}

/** One HTTP exchange as the lane makes it (its pool, its timeout, its stop): the status and the start of the answer, or why there was none. */
export type Exchange = (
  path: string,
  headers: Record<string, string>,
  body: string,
) => Promise<{ status: number; retryAfter?: string; text: string } | { error: string }>;

/** The outcome of a post: the answer as the delivery policy reads it, and whether the app said the robot is over its limit. */
export interface Posted {
  answer: Answer;
  throttled: boolean;
  /** The app's own code, when its answer has one. */
  code?: unknown;
  /** The start of the answer, for a test message's report. */
  text?: string;
}

/**
 * Posts a text to the robot: the app's shape and signature (apps.ts), counted
 * in the pace whatever the answer (the app counts requests). A 2xx is read as
 * the app means it; a throttle code or a 429 closes the pace for as long as
 * the app makes a robot wait, and the retry waits at least that long.
 */
export async function postChat(url: URL, target: ChatTarget, text: string, clock: () => number, exchange: Exchange): Promise<Posted> {
  const sent = clock();
  const request = chatRequest(target.format, text, target.secret, sent);
  const signed = new URL(url);
  for (const [name, value] of Object.entries(request.query)) signed.searchParams.set(name, value);
  target.pace.posted(sent);
  const answer = await exchange(signed.pathname + signed.search, { 'content-type': 'application/json; charset=utf-8' }, request.body);
  const now = clock();
  target.pace.answered(sent, now);
  if ('error' in answer) return { answer, throttled: false };
  const { status, retryAfter } = answer;
  if (status === 429) {
    const waitMs = Math.max(target.app.throttleMs, retryAfterMs(retryAfter, now) ?? 0);
    target.pace.close(now + waitMs);
    return { answer: { error: 'HTTP 429', status, retryAfterMs: waitMs }, throttled: true, text: answer.text };
  }
  if (status < 200 || status >= 300) return { answer: { status, retryAfter }, throttled: false, text: answer.text };
  const read = readChatAnswer(target.format, answer.text);
  const code = chatCode(target.format, answer.text);
  if (read.ok) return { answer: { status }, throttled: false, code, text: answer.text };
  if (read.throttled) target.pace.close(now + target.app.throttleMs);
  return {
    answer: { error: read.error, status, retryAfterMs: read.throttled ? target.app.throttleMs : undefined },
    throttled: read.throttled,
    code,
    text: answer.text,
  };
}

/** Reads at most ANSWER_BYTES of an answer's body: a receiver may answer anything. */
export async function answerStart(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= ANSWER_BYTES) break;
  }
  return Buffer.concat(chunks).subarray(0, ANSWER_BYTES).toString('utf8');
}
