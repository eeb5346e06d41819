import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../src/events/events.ts';
import { ErrorBody } from '../../src/http/errors.ts';
import { REJECT_REASONS } from '../../src/protocol/uplink.ts';
import { COMMAND_STATUSES, DELIVERY_STATUSES, DISABLED_REASONS, ROLES, SYNC_STATUSES } from '../../src/store/store.ts';

// The console's catalogs (src/ui/i18n.js, SPEC §Operators, language): one
// key set in both languages, every key the page and its script use, and a
// text for every value of the API's lists the console puts in words.

type Message = string | { one?: string; other: string };
interface I18n {
  LANGS: string[];
  MESSAGES: Record<string, Record<string, Message>>;
  chooseLang(stored: string | null, languages: readonly string[]): string;
  setLang(lang: string): void;
  setZone(zone: string): void;
  t(key: string, params?: Record<string, unknown>): string;
  formatTime(iso: string): string;
}

const ui = (name: string) => readFileSync(new URL(`../../src/ui/${name}`, import.meta.url), 'utf8');
const i18n = (await import(new URL('../../src/ui/i18n.js', import.meta.url).href)) as I18n;
const { MESSAGES, LANGS } = i18n;

/** The keys of an expression: its string literal, or the two of `condition ? 'a' : 'b'` (not the condition's). */
const literals = (expression: string) => [...expression.slice(expression.indexOf('?') + 1).matchAll(/'([^']*)'/g)].map((m) => m[1]);

/** The first argument of every call of `name(` in a script: up to its first top-level comma or closing parenthesis. */
function firstArguments(source: string, name: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(new RegExp(`(?<![\\w.])${name}\\(`, 'g'))) {
    let depth = 0;
    let end = match.index + match[0].length;
    for (; end < source.length; end++) {
      const c = source[end];
      if (c === '(' || c === '{' || c === '[') depth++;
      else if (c === ')' || c === '}' || c === ']') {
        if (depth === 0) break;
        depth--;
      } else if (c === ',' && depth === 0) break;
    }
    found.push(source.slice(match.index + match[0].length, end));
  }
  return found;
}

// The script and the catalog's own functions (a time not there, a size).
const script = `${ui('app.js')}\n${ui('i18n.js')}`;
const page = ui('index.html');

/** Keys app.js and i18n.js name: t('key'), t(cond ? 'a' : 'b'), setLive('key'), an element's dataset.i18n = …. */
const scriptKeys = [
  ...firstArguments(script, 't').flatMap(literals),
  ...firstArguments(script, 'setLive').flatMap(literals),
  ...[...script.matchAll(/dataset\.i18n = ([^;]+);/g)].flatMap((m) => literals(m[1])),
];
/** Keys index.html names: data-i18n, data-i18n-placeholder, -title, -aria-label. */
const pageKeys = [...page.matchAll(/data-i18n(?:-placeholder|-title|-aria-label)?="([^"]+)"/g)].map((m) => m[1]);

/** What term(namespace, value) puts in words: the API's own lists, so a value added there needs its text here. */
const TERMS: Record<string, readonly string[]> = {
  event: EVENT_TYPES,
  'command.status': COMMAND_STATUSES,
  'sync.status': SYNC_STATUSES,
  'delivery.status': DELIVERY_STATUSES,
  reject: REJECT_REASONS,
  'endpoint.reason': DISABLED_REASONS,
  role: ROLES,
  // The API's error codes, and the two the console makes itself (no answer, an answer not of the error shape).
  error: [...ErrorBody.entries.error.entries.code.options, 'network', 'http_error'],
};
const termNamespaces = [...new Set(firstArguments(script, 'term').flatMap(literals))];
const termKeys = Object.entries(TERMS).flatMap(([namespace, values]) => values.map((value) => `${namespace}.${value}`));

const placeholders = (message: Message) =>
  [...new Set((typeof message === 'string' ? [message] : Object.values(message)).flatMap((m) => [...m!.matchAll(/\{(\w+)\}/g)].map((x) => x[1])))].sort();

describe('console languages', () => {
  it('has one key set in both languages, with the same placeholders', () => {
    expect(LANGS).toEqual(['zh-CN', 'en']);
    const [zh, en] = LANGS.map((lang) => Object.keys(MESSAGES[lang]).sort());
    expect(zh.filter((key) => !en.includes(key))).toEqual([]);
    expect(en.filter((key) => !zh.includes(key))).toEqual([]);
    for (const key of en) {
      for (const lang of LANGS) {
        const message = MESSAGES[lang][key];
        expect(typeof message === 'string' ? message : message.other, `${lang} ${key}`).toBeTruthy();
      }
      expect(placeholders(MESSAGES['zh-CN'][key]), key).toEqual(placeholders(MESSAGES.en[key]));
    }
  });

  it('has every key the page and its script use, and no other', () => {
    expect(scriptKeys.length).toBeGreaterThan(100);
    expect(pageKeys.length).toBeGreaterThan(50);
    const known = new Set(Object.keys(MESSAGES.en));
    expect([...new Set([...scriptKeys, ...pageKeys])].filter((key) => !known.has(key))).toEqual([]);
    // Every namespace put in words is one of the API's lists above.
    expect(termNamespaces.filter((namespace) => !(namespace in TERMS))).toEqual([]);
    expect(termKeys.filter((key) => !known.has(key))).toEqual([]);
    const used = new Set([...scriptKeys, ...pageKeys, ...termKeys]);
    expect([...known].filter((key) => !used.has(key))).toEqual([]);
  });

  it('follows the browser: any Chinese is zh-CN, anything else English; the switch wins', () => {
    expect(i18n.chooseLang(null, ['zh-TW', 'en'])).toBe('zh-CN');
    expect(i18n.chooseLang(null, ['en-US', 'zh'])).toBe('zh-CN');
    expect(i18n.chooseLang(null, ['en-GB', 'de'])).toBe('en');
    expect(i18n.chooseLang(null, [])).toBe('en');
    expect(i18n.chooseLang('en', ['zh-CN'])).toBe('en');
    expect(i18n.chooseLang('zh-CN', ['en-US'])).toBe('zh-CN');
    expect(i18n.chooseLang('fr', ['en-US'])).toBe('en');
  });

  it("fills placeholders, counts in English, and shows times in the site's zone", () => {
    i18n.setLang('en');
    expect(i18n.t('deliveries.attempts', { n: 1 })).toBe('1 attempt');
    expect(i18n.t('deliveries.attempts', { n: 3 })).toBe('3 attempts');
    i18n.setLang('zh-CN');
    expect(i18n.t('deliveries.attempts', { n: 3 })).toBe('尝试 3 次');
    expect(i18n.t('command.sending', { sn: 'SIM1' })).toBe('正在发送到 SIM1…');
    // 02:30 UTC is 10:30 in Shanghai and 21:30 the day before in New York, whatever the machine's zone.
    i18n.setZone('Asia/Shanghai');
    expect(i18n.formatTime('2026-03-01T02:30:00Z')).toMatch(/2026\/3\/1 10:30:00/);
    i18n.setLang('en');
    i18n.setZone('America/New_York');
    expect(i18n.formatTime('2026-03-01T02:30:00Z')).toMatch(/2\/28\/26,? 9:30:00\sPM/);
  });
});
