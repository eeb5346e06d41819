import { localTimestamp, utcOffset } from '../../lib/units.ts';
import type { AlertLang } from './apps.ts';

// The words of an alert in a chat app (README §Alerts in chat apps): a title,
// the terminal, the time in the site's zone, the person where there is one,
// and what else the event says, never a face image. Every message starts with
// "facegate", the keyword a DingTalk robot's keyword check can be set to.

type Words = Record<string, { 'zh-CN': string; en: string }>;

const TITLES: Words = {
  'face.verified': { 'zh-CN': '人员通行', en: 'Person passed' },
  'face.rejected': { 'zh-CN': '人脸识别未通过', en: 'Face not accepted' },
  'face.stranger': { 'zh-CN': '陌生人', en: 'Stranger at the door' },
  'device.online': { 'zh-CN': '终端上线', en: 'Terminal online' },
  'device.offline': { 'zh-CN': '终端离线', en: 'Terminal offline' },
  'device.message': { 'zh-CN': '终端消息', en: 'Terminal message' },
  'device.clock_skew': { 'zh-CN': '终端时钟偏差', en: 'Terminal clock off' },
  'broker.drops': { 'zh-CN': 'MQTT 代理丢弃了消息', en: 'The broker drops messages' },
  'command.replied': { 'zh-CN': '命令已应答', en: 'Command answered' },
  'command.unanswered': { 'zh-CN': '命令无应答', en: 'Command unanswered' },
  'command.expired': { 'zh-CN': '命令已过期', en: 'Command expired' },
  'person.synced': { 'zh-CN': '人员已同步', en: 'Person synced' },
  'person.sync_failed': { 'zh-CN': '人员同步失败', en: 'Person sync failed' },
  'delivery.dead': { 'zh-CN': '推送已放弃', en: 'Delivery given up' },
  'endpoint.disabled': { 'zh-CN': '推送地址已停用', en: 'Endpoint disabled' },
};

const LABELS: Words = {
  terminal: { 'zh-CN': '终端', en: 'Terminal' },
  time: { 'zh-CN': '时间', en: 'Time' },
  person: { 'zh-CN': '人员', en: 'Person' },
  command: { 'zh-CN': '命令', en: 'Command' },
  code: { 'zh-CN': '代码', en: 'Code' },
  message: { 'zh-CN': '说明', en: 'Message' },
  endpoint: { 'zh-CN': '推送地址', en: 'Endpoint' },
  attempts: { 'zh-CN': '尝试次数', en: 'Attempts' },
  status: { 'zh-CN': '最后状态', en: 'Last status' },
  reason: { 'zh-CN': '原因', en: 'Reason' },
  skew: { 'zh-CN': '偏差', en: 'Off by' },
  recordTime: { 'zh-CN': '终端时间', en: 'Terminal time' },
  event: { 'zh-CN': '事件', en: 'Event' },
  dropped: { 'zh-CN': '丢弃', en: 'Dropped' },
};

const SEPARATOR = { 'zh-CN': '：', en: ': ' };
/** One value in a message at most this long: a terminal's field can be of any size. */
const VALUE_CHARS = 120;

const text = (value: unknown): string | undefined => {
  if (value === undefined || value === null || value === '') return undefined;
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  return shown.length > VALUE_CHARS ? `${shown.slice(0, VALUE_CHARS)}…` : shown;
};

/** An event's type in the reader's language (the type itself for one this version has no words for). */
export function alertTitle(type: string, lang: AlertLang): string {
  return TITLES[type]?.[lang] ?? type;
}

/** When, in the site's zone: "2026-12-05 09:10:00 (UTC+08:00)". */
export function siteTime(iso: unknown): string | undefined {
  if (typeof iso !== 'string') return undefined;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return undefined;
  return `${localTimestamp(date)} (UTC${utcOffset(date)})`;
}

/** Who the event is about: "name (num)", or what there is of it. */
function person(view: Record<string, unknown>): string | undefined {
  const name = text(view.name);
  const num = text(view.user_id ?? view.num);
  if (name && num) return `${name} (${num})`;
  return name ?? num;
}

/** One event as the lines of its message. */
export function alertText(view: Record<string, unknown>, lang: AlertLang): string {
  const type = String(view.type);
  const lines = [`facegate · ${alertTitle(type, lang)}`];
  const add = (label: string, value: unknown) => {
    const shown = text(value);
    if (shown !== undefined) lines.push(`${LABELS[label][lang]}${SEPARATOR[lang]}${shown}`);
  };
  add('terminal', [text(view.device_sn), text(view.label)].filter((part) => part !== undefined).join(' · ') || undefined);
  add('person', person(view));
  add('command', view.cmd);
  add('endpoint', [text(view.endpoint_id), text(view.url)].filter((part) => part !== undefined).join(' '));
  add('event', view.event_id);
  add('dropped', view.sent === undefined || view.sent === null ? view.dropped : `${view.dropped} / ${view.sent}`);
  add('attempts', view.attempts);
  add('status', view.last_status);
  add('reason', view.reason);
  if (typeof view.skew_seconds === 'number') add('skew', `${view.skew_seconds} s`);
  add('recordTime', view.record_time);
  add('code', view.code);
  add('message', view.message);
  add('time', siteTime(view.received_at));
  return lines.join('\n');
}

/** What a digest says of one event: its terminal, and its person or endpoint. */
function item(view: Record<string, unknown>): string {
  const terminal = text(view.label) ? `${text(view.device_sn)} (${text(view.label)})` : text(view.device_sn);
  const parts = [terminal, person(view), text(view.endpoint_id)].filter((part) => part !== undefined);
  return parts.length > 0 ? parts.join(' ') : String(view.id);
}

/**
 * Several events as one message, grouped by type, naming each one ("终端离线
 * ×12：SN1、SN2、…"), with as many as fit in `maxBytes`: `taken` says how many
 * of `views`, in their order, the message names (at least one).
 */
export function digestText(views: Record<string, unknown>[], lang: AlertLang, maxBytes: number): { text: string; taken: number } {
  const header = (count: number) => (lang === 'zh-CN' ? `facegate · ${count} 条告警` : `facegate · ${count} alerts`);
  const join = lang === 'zh-CN' ? '、' : ', ';
  const groups = new Map<string, string[]>();
  const render = (count: number) =>
    [header(count), ...[...groups].map(([type, items]) => `${alertTitle(type, lang)} ×${items.length}${SEPARATOR[lang]}${items.join(join)}`)].join('\n');
  let taken = 0;
  for (const view of views) {
    const type = String(view.type);
    const items = groups.get(type) ?? [];
    groups.set(type, items);
    items.push(item(view));
    if (taken > 0 && Buffer.byteLength(render(taken + 1)) > maxBytes) {
      items.pop();
      if (items.length === 0) groups.delete(type);
      break;
    }
    taken += 1;
  }
  return { text: render(taken), taken };
}

/** The words of a test message (POST /api/webhooks/{id}/test): it starts with "facegate", as every alert does. */
export function testText(lang: AlertLang, at: number): string {
  const time = siteTime(new Date(at).toISOString());
  return lang === 'zh-CN'
    ? `facegate · 测试消息\n这是一条来自 facegate 的测试消息，收到即表示告警可以送达。\n时间：${time}`
    : `facegate · Test message\nA test message from facegate: alerts reach this chat.\nTime: ${time}`;
}
