// facegate console: one module, no build step. Auth is the HttpOnly session
// cookie set by POST /ui/login; this script never sees the token. Every text
// it shows comes from i18n.js (SPEC §Operators, language).

import { chooseLang, formatNumber, formatRelative, formatTime, lang, STORAGE_KEY, setLang, setZone, t, term, translatePage } from '/ui/i18n.js';

const $ = (id) => document.getElementById(id);
const MAX_EVENTS = 100;
/** Terminals fetched at a time; "More terminals" fetches the next page (GET /api/devices is paged). */
const TERMINALS_PAGE = 100;
/** Requests one list may take to fill the view: a page may be short, even empty, and still go on (README §HTTP API, Lists). */
const MAX_LIST_REQUESTS = 20;
/** Commands the history shows; a fan-out's items shown at most. */
const COMMANDS_SHOWN = 50;
const BATCH_SHOWN = 500;
/** The live stream's command events (README §Commands with replies). */
const COMMAND_EVENTS = ['command.replied', 'command.unanswered', 'command.expired'];
/** The live stream's people events (README §People on the terminals). */
const PERSON_EVENTS = ['person.synced', 'person.sync_failed'];
/** How often lists with queued commands are read again: nothing announces that a queued command went out. */
const QUEUED_POLL_MS = 3000;

const state = {
  terminals: new Map(), // sn → device
  terminalsCursor: null, // next_cursor of the last page of terminals fetched; null once all are here
  events: new Map(), // id → event, of the live list as shown (drawn again in another language)
  deliveryStatus: 'dead',
  sent: null, // the command the form sent last, as GET /api/commands/{id} gives it
  batch: null, // the fan-out sent last: { id, items: Map id → command }
  commands: [], // the history as shown
  stream: null,
  poll: null,
  queuedPoll: null,
  role: 'viewer', // the session's role (GET /api/session): what the controls offer
  paused: null, // while the live list is paused: { held: events newest first, at most MAX_EVENTS; count: all that arrived }
};

/** A DOM element: h('li', { class: 'x' }, 'text', child). Text is always text, never HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) el.append(child);
  return el;
}

/**
 * An answer of the API's error shape ({error:{code,message}}): the code in
 * words, the bridge's own detail, and the code itself for support.
 */
class ApiError extends Error {
  constructor(status, code, detail) {
    super(t('error.text', { text: term('error', code), detail, code, status }));
    this.status = status;
    this.code = code;
  }
}

/** fetch + JSON; API errors ({error:{code,message}}) become readable ApiErrors; 401 brings back the login form. */
async function api(method, path, body) {
  // The bridge takes changes made with the session cookie only with this header (CSRF).
  const init = { method, headers: { 'x-facegate-console': '1' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'network', err.message);
  }
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const error = json?.error ?? {};
    const issues = (error.issues ?? []).map((i) => `${i.path ? `${i.path}: ` : ''}${i.message}`);
    const message = issues.length > 1 ? issues.join('; ') : (error.message ?? (text.slice(0, 200) || response.statusText));
    if (response.status === 401 && path !== '/ui/login') showLogin(t('login.ended'));
    throw new ApiError(response.status, error.code ?? 'http_error', message);
  }
  return json;
}

function toast(message) {
  const el = $('toast');
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (el.hidden = true), 8000);
}

/** A time in the site's zone (GET /api/info), in the language shown. */
const time = formatTime;

/**
 * Up to `want` items of a list, newest first. A page may hold fewer items
 * than asked for, even none, and still have a next_cursor (a window of the
 * store with nothing that matches, or a page full of large items): follow it
 * while the view is not full, a few requests at most.
 */
async function loadList(path, want) {
  const items = [];
  let cursor = null;
  for (let requests = 0; requests < MAX_LIST_REQUESTS; requests++) {
    const page = await api('GET', cursor === null ? path : `${path}&cursor=${encodeURIComponent(cursor)}`);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (cursor === null || items.length >= want) break;
  }
  return items.slice(0, want);
}

const kilobytes = (bytes) => t('size.kb', { n: formatNumber(Math.round(bytes / 1024)) });

/** A link to the whole of an event a list or the stream showed short. */
const wholeEvent = (event) =>
  h('a', { href: `/api/events/${encodeURIComponent(event.id)}`, target: '_blank', rel: 'noopener', class: 'whole' }, t('events.whole'));

// ---- login / logout ---------------------------------------------------------

function showLogin(message) {
  stopLive();
  $('console-view').hidden = true;
  $('logout').hidden = true;
  $('live').hidden = true;
  $('zone').hidden = true;
  $('whoami').hidden = true;
  $('login-view').hidden = false;
  $('login-error').hidden = !message;
  $('login-error').textContent = message ?? '';
  $('token').focus();
}

async function login(event) {
  event.preventDefault();
  const token = $('token').value;
  try {
    await api('POST', '/ui/login', { token });
    $('token').value = '';
    $('login-view').hidden = true;
    await start();
  } catch (err) {
    $('login-error').textContent = err.status === 401 ? t('login.wrong') : err.message;
    $('login-error').hidden = false;
  }
}

// ---- terminals --------------------------------------------------------------

// Serials are ASCII: compared as the bridge orders its pages.
const bySerial = (a, b) => (a.sn < b.sn ? -1 : a.sn > b.sn ? 1 : 0);

function renderTerminals() {
  const list = $('terminals');
  const terminals = [...state.terminals.values()].sort(bySerial);
  list.replaceChildren(
    ...terminals.map((terminal) =>
      h(
        'li',
        { class: `terminal ${terminal.online ? 'online' : 'offline'}`, 'data-sn': terminal.sn },
        h('span', { class: 'dot', 'aria-hidden': 'true' }),
        h('span', { class: 'sn' }, terminal.sn),
        h('span', { class: 'state' }, t(terminal.online ? 'terminal.online' : 'terminal.offline')),
        h(
          'span',
          { class: 'seen muted' },
          t('terminal.lastSeen', { time: formatRelative(terminal.last_seen_at) }),
          ' · ',
          h('time', { datetime: terminal.last_seen_at }, time(terminal.last_seen_at)),
        ),
      ),
    ),
  );
  $('terminals-empty').hidden = terminals.length > 0;
  $('terminals-more').hidden = state.terminalsCursor === null;

  const select = $('command-sn');
  const chosen = select.value;
  select.replaceChildren(...terminals.map((x) => h('option', { value: x.sn }, x.online ? x.sn : t('terminal.option.offline', { sn: x.sn }))));
  if (terminals.some((x) => x.sn === chosen)) select.value = chosen;
  else if (terminals.some((x) => x.online)) select.value = terminals.find((x) => x.online).sn;
}

async function loadTerminals({ more = false } = {}) {
  const cursor = more ? `&cursor=${encodeURIComponent(state.terminalsCursor)}` : '';
  const { items, next_cursor } = await api('GET', `/api/devices?limit=${TERMINALS_PAGE}${cursor}`);
  if (!more) state.terminals = new Map();
  for (const terminal of items) state.terminals.set(terminal.sn, terminal);
  state.terminalsCursor = next_cursor;
  renderTerminals();
}

async function moreTerminals() {
  try {
    await loadTerminals({ more: true });
  } catch (err) {
    toast(t('terminals.error', { error: err.message }));
  }
}

/** A terminal the stream tells of belongs in the list unless it sorts after the pages fetched so far (it comes with a later one). */
const listable = (sn) => state.terminals.has(sn) || state.terminalsCursor === null || sn < state.terminalsCursor;

// ---- events -----------------------------------------------------------------

function describe(event) {
  // Too large to list (README §HTTP API, Lists): its size, and a link to all of it.
  if (event.truncated)
    return [
      t(event.type === 'device.message' ? 'events.truncatedMessage' : 'events.truncatedFields', { size: kilobytes(event.fields_bytes) }),
      wholeEvent(event),
    ];
  if (event.type.startsWith('face.')) {
    const who = [event.name, event.user_id && `#${event.user_id}`].filter(Boolean).join(' ') || t('events.unknownPerson');
    return event.verifiedCode !== undefined ? t('events.code', { who, code: event.verifiedCode }) : who;
  }
  if (event.type === 'device.message') return JSON.stringify(event.message);
  if (event.type === 'command.replied') return `${event.cmd} → ${JSON.stringify(event.reply)}`;
  if (event.type === 'command.unanswered') return t('events.noReply', { cmd: event.cmd });
  if (event.type === 'command.expired') return t('events.expired', { cmd: event.cmd });
  if (event.type === 'person.synced') return t(event.deleted ? 'events.personRemoved' : 'events.personSynced', { num: event.num });
  if (event.type === 'person.sync_failed')
    return t('events.personRefused', { num: event.num, code: JSON.stringify(event.code), message: event.message ? ` · ${event.message}` : '' });
  // The alerts (README §Alerts in chat apps), each said with what it carries.
  if (event.type === 'delivery.dead')
    return t('events.deliveryDead', { event: event.event_id, endpoint: event.endpoint_id, n: event.attempts, status: event.last_status ?? '—' });
  if (event.type === 'endpoint.disabled') return t('events.endpointDisabled', { endpoint: event.endpoint_id, url: event.url });
  if (event.type === 'device.clock_skew') return t('events.clockSkew', { seconds: event.skew_seconds, time: event.record_time });
  if (event.type === 'broker.drops')
    return event.sent === null || event.sent === undefined
      ? t('events.brokerDrops', { n: event.dropped })
      : t('events.brokerProbe', { n: event.dropped, sent: event.sent });
  return t('terminal.lastSeen', { time: time(event.last_seen_at) });
}

function eventItem(event) {
  const kind = event.type.split('.')[1];
  return h(
    'li',
    { class: `event ${event.type.replace('.', '-')}`, 'data-id': event.id },
    event.has_image
      ? h('img', {
          class: 'thumb',
          src: `/api/events/${encodeURIComponent(event.id)}/image`,
          alt: t('events.faceOf', { name: event.name ?? t('events.unknownPerson') }),
          loading: 'lazy',
        })
      : h('span', { class: 'thumb none', 'aria-hidden': 'true' }, event.type.startsWith('command.') ? '↩' : kind === 'message' ? '✉' : '●'),
    h(
      'div',
      { class: 'body' },
      h(
        'div',
        { class: 'line' },
        h('span', { class: `badge ${kind}`, title: event.type }, term('event', event.type)),
        h('span', { class: 'sn' }, event.device_sn),
      ),
      // Scrollable when long (style.css): focusable, so a keyboard reaches the rest.
      h('div', { class: 'what', ...((event.type === 'device.message' || event.type === 'command.replied') && { tabindex: 0 }) }, describe(event)),
      h('div', { class: 'muted small' }, time(event.received_at)),
    ),
  );
}

/** Pauses the live list, or resumes it with what arrived meanwhile (at most MAX_EVENTS of them, as the list holds). */
function togglePause() {
  const button = $('events-pause');
  if (state.paused === null) {
    state.paused = { held: [], count: 0 };
    $('events-held').textContent = t('events.paused', { n: 0 });
  } else {
    const { held, count } = state.paused;
    state.paused = null;
    for (const event of held.reverse()) addEvent(event, { prepend: true });
    $('events-held').textContent = t('events.resumed', { n: count });
  }
  button.dataset.i18n = state.paused ? 'events.resume' : 'events.pause';
  button.textContent = t(button.dataset.i18n);
  button.setAttribute('aria-pressed', String(state.paused !== null));
}

/** An event of the stream for the live list: shown, or held while the list is paused. */
function liveEvent(event) {
  if (state.paused === null) return addEvent(event, { prepend: true });
  if (state.events.has(event.id) || state.paused.held.some((e) => e.id === event.id)) return;
  state.paused.count++;
  state.paused.held.unshift(event);
  if (state.paused.held.length > MAX_EVENTS) state.paused.held.pop();
  $('events-held').textContent = t('events.paused', { n: state.paused.count });
}

function addEvent(event, { prepend }) {
  if (state.events.has(event.id)) return;
  state.events.set(event.id, event);
  const list = $('events');
  const item = eventItem(event);
  if (prepend) list.prepend(item);
  else list.append(item);
  while (list.children.length > MAX_EVENTS) {
    state.events.delete(list.lastElementChild.dataset.id);
    list.lastElementChild.remove();
  }
  $('events-empty').hidden = list.children.length > 0;
}

async function loadEvents() {
  const items = await loadList(`/api/events?limit=${MAX_EVENTS}`, MAX_EVENTS);
  $('events').replaceChildren();
  state.events.clear();
  for (const event of items) addEvent(event, { prepend: false });
  $('events-empty').hidden = items.length > 0;
  return items[0]?.id;
}

// ---- live stream ------------------------------------------------------------

function setLive(key, ok) {
  $('live').hidden = false;
  $('live').dataset.i18n = key;
  $('live').textContent = t(key);
  $('live').className = `pill ${ok ? 'ok' : 'warn'}`;
}

function onStreamEvent(event) {
  liveEvent(event);
  if ((event.type === 'device.online' || event.type === 'device.offline') && listable(event.device_sn)) {
    const known = state.terminals.get(event.device_sn) ?? { sn: event.device_sn, registered: false, first_seen_at: event.last_seen_at };
    state.terminals.set(event.device_sn, { ...known, online: event.type === 'device.online', last_seen_at: event.last_seen_at });
    renderTerminals();
  } else if (state.terminals.has(event.device_sn)) {
    state.terminals.get(event.device_sn).last_seen_at = event.received_at;
  }
  if (event.type.startsWith('command.')) onCommandEvent(event);
  if (event.type.startsWith('person.') || event.type.startsWith('command.')) onPersonEvent(event);
  // A terminal back online takes the commands held for it (README §Commands with replies).
  if (event.type === 'device.online') onTerminalOnline(event.device_sn);
  scheduleDeliveries();
}

function startStream(lastId) {
  // Resuming after the newest listed event leaves no gap between the list and the stream.
  const url = lastId ? `/api/stream?last_event_id=${encodeURIComponent(lastId)}` : '/api/stream';
  const source = new EventSource(url);
  state.stream = source;
  source.onopen = () => setLive('live.live', true);
  source.onerror = async () => {
    if (source.readyState === EventSource.CLOSED) {
      // EventSource gives up on an HTTP error (e.g. 401): find out why, retry later if still signed in.
      setLive('live.disconnected', false);
      try {
        await api('GET', '/api/session');
        setTimeout(() => state.stream === source && startStream(newestEventId()), 3000);
      } catch {
        /* api() has shown the login form or the error */
      }
    } else setLive('live.reconnecting', false);
  };
  // Every type the API knows (its document's list, loadEventTypes), the alerts and people's among them.
  for (const type of new Set([...EVENT_TYPES, ...COMMAND_EVENTS, ...PERSON_EVENTS])) {
    source.addEventListener(type, (message) => onStreamEvent(JSON.parse(message.data)));
  }
}

const newestEventId = () => state.paused?.held[0]?.id ?? $('events').firstElementChild?.dataset.id;

function stopLive() {
  state.stream?.close();
  state.stream = null;
  clearInterval(state.poll);
  clearInterval(state.queuedPoll);
  clearInterval(state.ageing);
}

// ---- deliveries -------------------------------------------------------------

function deliveryItem(d) {
  const outcome = d.last_error ?? (d.last_status ? `HTTP ${d.last_status}` : t('deliveries.notTried'));
  return h(
    'li',
    { class: `delivery ${d.status}`, 'data-id': d.id },
    h(
      'div',
      { class: 'body' },
      h(
        'div',
        { class: 'line' },
        h('span', { class: `badge ${d.status}` }, term('delivery.status', d.status)),
        h('span', { class: 'mono' }, d.event_type),
        h('span', { class: 'muted small' }, `→ ${d.endpoint_id}`),
      ),
      h(
        'div',
        { class: 'muted small' },
        `${t('deliveries.attempts', { n: d.attempts })} · ${outcome} · ${time(d.delivered_at ?? d.last_attempt_at ?? d.created_at)}`,
      ),
      h('div', { class: 'muted small mono' }, `${d.id} · ${d.event_id}`),
    ),
    d.status === 'dead' && may('admin') ? h('button', { type: 'button', class: 'retry', onclick: () => retry(d.id) }, t('retry')) : null,
  );
}

async function loadDeliveries() {
  try {
    const items = await loadList(`/api/deliveries?status=${state.deliveryStatus}&limit=50`, 50);
    $('deliveries').replaceChildren(...items.map(deliveryItem));
    $('deliveries-empty').hidden = items.length > 0;
  } catch (err) {
    toast(t('deliveries.error', { error: err.message }));
  }
}

function scheduleDeliveries() {
  clearTimeout(scheduleDeliveries.timer);
  scheduleDeliveries.timer = setTimeout(loadDeliveries, 500);
}

async function retry(id) {
  try {
    await api('POST', `/api/deliveries/${encodeURIComponent(id)}/retry`);
  } catch (err) {
    toast(t('retry.error', { id, error: err.message }));
  }
  await loadDeliveries();
}

// The deliveries' states as tabs (WAI-ARIA APG Tabs, automatic activation):
// one tab in the Tab order, the arrow keys, Home and End move among them.
const tabs = () => [...document.querySelectorAll('#deliveries-card [role="tab"]')];

function selectTab(tab, { focus = false } = {}) {
  state.deliveryStatus = tab.dataset.status;
  for (const other of tabs()) {
    const selected = other === tab;
    other.setAttribute('aria-selected', String(selected));
    other.tabIndex = selected ? 0 : -1;
  }
  $('deliveries-panel').setAttribute('aria-labelledby', tab.id);
  if (focus) tab.focus();
  loadDeliveries();
}

function chooseTab(event) {
  const tab = event.target.closest('[role="tab"]');
  if (tab) selectTab(tab);
}

function tabKey(event) {
  const all = tabs();
  const at = all.indexOf(event.target);
  if (at < 0) return;
  const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: all.length - 1 }[event.key];
  if (next === undefined) return;
  event.preventDefault();
  selectTab(all[(next + all.length) % all.length], { focus: true });
}

// ---- endpoints (README §Webhooks, §Alerts in chat apps) --------------------------

/**
 * The event types an endpoint can ask for, as the API's own document lists
 * them (the enum of POST /api/webhooks' event_types): one list, the
 * server's, so a type added there is offered here without a change.
 */
let EVENT_TYPES = ['face.verified', 'face.rejected', 'face.stranger', 'device.online', 'device.offline', 'device.message'];
async function loadEventTypes() {
  try {
    const doc = await (await fetch('/api/openapi.json')).json();
    const schema = doc.paths['/api/webhooks'].post.requestBody.content['application/json'].schema;
    const types = schema.properties.event_types.items.enum;
    if (Array.isArray(types) && types.length > 0) EVENT_TYPES = types;
  } catch {
    // The default endpoint's type alone: an endpoint can still be added.
  }
  fillEventTypes();
}

/** The alerts, checked by default for a chat app. */
const ALERTS = ['face.stranger', 'device.offline', 'device.clock_skew', 'delivery.dead', 'endpoint.disabled', 'broker.drops'];

function fillEventTypes() {
  const chat = $('endpoint-format').value !== 'standard';
  $('endpoint-types').replaceChildren(
    ...EVENT_TYPES.map((type) =>
      h('option', { value: type, selected: chat ? ALERTS.includes(type) : type === 'face.verified' }, `${term('event', type)} (${type})`),
    ),
  );
}

/** What the receiver answered a test message. */
function testAnswer(answer) {
  const parts = [t(answer.ok ? 'endpoint.ok' : 'endpoint.failed'), answer.status === null ? t('endpoint.noAnswer') : `HTTP ${answer.status}`];
  if (answer.code !== null && answer.code !== undefined) parts.push(t('endpoint.code', { code: answer.code }));
  if (answer.error) parts.push(answer.error);
  return parts.join(' · ');
}

function endpointItem(e) {
  const shown = e.enabled ? t('endpoint.enabled') : t('endpoint.disabled', { reason: term('endpoint.reason', e.disabled_reason) });
  const answer = h('div', { class: 'muted small test-answer', role: 'status' });
  const test = async () => {
    answer.textContent = t('endpoint.sending');
    try {
      const sent = await api('POST', `/api/webhooks/${encodeURIComponent(e.id)}/test`);
      answer.textContent = testAnswer(sent);
      answer.className = `small test-answer ${sent.ok ? 'ok' : 'error'}`;
    } catch (err) {
      answer.textContent = err.message;
      answer.className = 'small test-answer error';
    }
  };
  const change = (method, path) => async () => {
    try {
      await api(method, path);
    } catch (err) {
      toast(`${e.id}: ${err.message}`);
    }
    await loadEndpoints();
  };
  const base = `/api/webhooks/${encodeURIComponent(e.id)}`;
  return h(
    'li',
    { class: `delivery endpoint ${e.enabled ? 'delivered' : 'dead'}`, 'data-id': e.id },
    h(
      'div',
      { class: 'body' },
      h(
        'div',
        { class: 'line' },
        h('span', { class: `badge ${e.enabled ? 'delivered' : 'dead'}` }, shown),
        h('span', { class: 'mono' }, `${e.format} · ${e.lang}`),
        h('span', { class: 'muted small mono' }, e.id),
      ),
      h('div', { class: 'small mono' }, e.url),
      h('div', { class: 'muted small' }, e.event_types.map((type) => term('event', type)).join(', ')),
      answer,
    ),
    // Testing, enabling and deleting an endpoint is an admin's (README §Tokens and roles).
    may('admin')
      ? h(
          'div',
          { class: 'actions' },
          h('button', { type: 'button', class: 'ghost test', onclick: test }, t('endpoint.test')),
          e.enabled
            ? h('button', { type: 'button', class: 'ghost', onclick: change('POST', `${base}/disable`) }, t('endpoint.disable'))
            : h('button', { type: 'button', class: 'ghost', onclick: change('POST', `${base}/enable`) }, t('endpoint.enable')),
          h('button', { type: 'button', class: 'ghost', onclick: change('DELETE', base) }, t('endpoint.delete')),
        )
      : null,
  );
}

async function loadEndpoints() {
  try {
    const { items } = await api('GET', '/api/webhooks');
    $('endpoints').replaceChildren(...items.map(endpointItem));
    $('endpoints-empty').hidden = items.length > 0;
  } catch (err) {
    toast(t('endpoints.error', { error: err.message }));
  }
}

async function addEndpoint(event) {
  event.preventDefault();
  const body = {
    url: $('endpoint-url').value.trim(),
    format: $('endpoint-format').value,
    lang: $('endpoint-lang').value,
    event_types: [...$('endpoint-types').selectedOptions].map((option) => option.value),
  };
  if ($('endpoint-secret').value) body.secret = $('endpoint-secret').value;
  try {
    const added = await api('POST', '/api/webhooks', body);
    $('endpoint-status').textContent = t('endpoint.added', { id: added.id });
    $('endpoint-secret').value = '';
    await loadEndpoints();
  } catch (err) {
    $('endpoint-status').textContent = err.message;
  }
}

// ---- commands ---------------------------------------------------------------

const STATES = ['queued', 'published', 'replied', 'unanswered', 'expired', 'failed'];

const duration = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`);

/** A JSON object typed in a form, or an Error saying why not. */
function parseObject(raw, example) {
  try {
    const value = JSON.parse(raw);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  } catch (err) {
    return new Error(t('json.invalid', { error: err.message }));
  }
  return new Error(t('json.mustBeObject', { example }));
}

/** The query string of POST /api/devices/{sn}/commands and the body of POST /api/commands take ttl as typed: the bridge checks it. */
const ttlOf = (id) => $(id).value.trim() || undefined;

/**
 * A command as the API gives it: its state in colour, its times, and its
 * reply under it (the reply, when it came, with its time and how long after
 * the command went out). The items of a fan-out's answer have only id,
 * device_sn and status until the list is read. Lists show a reply on one
 * line; the command just sent, laid out.
 */
function commandItem(c, { laidOut = false } = {}) {
  const cmd = c.body?.cmd ?? c.cmd;
  const times = [
    c.created_at && t('command.created', { time: time(c.created_at) }),
    c.published_at && t('command.published', { time: time(c.published_at) }),
    c.replied_at && t('command.replied', { time: time(c.replied_at) }),
    c.expires_at && (c.status === 'queued' || c.status === 'expired')
      ? t(c.status === 'expired' ? 'command.expiredAt' : 'command.expires', { time: time(c.expires_at) })
      : null,
  ].filter(Boolean);
  const latency = c.replied_at && c.published_at ? Date.parse(c.replied_at) - Date.parse(c.published_at) : null;
  let reply = null;
  if (c.reply !== undefined && c.reply !== null) {
    reply = h(
      'div',
      { class: 'reply' },
      h(
        'div',
        { class: 'muted small' },
        c.replied_at ? t('command.replyAt', { time: time(c.replied_at) }) : t('command.reply'),
        latency === null ? null : h('span', { class: 'latency' }, t('command.latency', { duration: duration(latency) })),
      ),
      // A reply may scroll: focusable, as the lists are.
      laidOut ? h('pre', { tabindex: 0 }, JSON.stringify(c.reply, null, 2)) : h('pre', { class: 'oneline', tabindex: 0 }, JSON.stringify(c.reply)),
    );
  } else if (c.status === 'replied') {
    // Listed without its reply (too large for a list): the whole command has it.
    reply = h('div', { class: 'reply muted small' }, t('command.replyNotListed'), wholeCommand(c));
  }
  return h(
    'li',
    { class: `command ${c.status}`, 'data-id': c.id, 'data-status': c.status },
    h(
      'div',
      { class: 'body' },
      h(
        'div',
        { class: 'line' },
        h('span', { class: `badge state ${c.status}` }, term('command.status', c.status)),
        h('span', { class: 'sn' }, c.device_sn),
        cmd === undefined ? null : h('span', { class: 'mono' }, cmd),
        c.truncated ? h('span', { class: 'muted small' }, t('command.body', { size: kilobytes(c.body_bytes) }), wholeCommand(c)) : null,
      ),
      times.length > 0 ? h('div', { class: 'muted small times' }, times.join(' · ')) : null,

      c.error ? h('div', { class: 'error small' }, c.error) : null,
      h('div', { class: 'muted small mono' }, [c.id, c.batch, c.actor && t('command.by', { actor: c.actor })].filter(Boolean).join(' · ')),
      reply,
    ),
  );
}

const wholeCommand = (c) =>
  h('a', { href: `/api/commands/${encodeURIComponent(c.id)}`, target: '_blank', rel: 'noopener', class: 'whole' }, t('command.whole'));

/** Reads `load` again half a second after the last call: events come in bursts (a fan-out's replies). */
function debounced(load) {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(load, 500);
  };
}

// The command the form sent: its state and its reply, from GET /api/commands/{id}.

function renderSent() {
  $('command-sent').replaceChildren(...(state.sent ? [commandItem(state.sent, { laidOut: true })] : []));
  $('command-sent').hidden = state.sent === null;
}

async function loadSent() {
  const id = state.sent?.id;
  if (!id) return;
  try {
    const command = await api('GET', `/api/commands/${encodeURIComponent(id)}`);
    if (state.sent?.id !== id) return;
    state.sent = command;
    renderSent();
    const status = $('command-status');
    const sn = command.device_sn;
    if (command.status === 'replied') status.textContent = t('command.replyFrom', { sn });
    else if (command.status === 'published') status.textContent = t('command.waiting', { sn });
    else if (command.status === 'queued') status.textContent = t('command.held', { sn });
    else status.textContent = t('command.stateOf', { sn, status: term('command.status', command.status) });
  } catch (err) {
    toast(t('command.error', { id, error: err.message }));
  }
}

async function sendCommand(event) {
  event.preventDefault();
  const sn = $('command-sn').value;
  const status = $('command-status');
  status.className = 'muted';
  const raw = $('command-extra').value.trim();
  const extra = raw ? parseObject(raw, '{"door": 1}') : {};
  if (extra instanceof Error) {
    status.className = 'error';
    status.textContent = t('command.extraBad', { error: extra.message });
    return;
  }
  if (!sn) {
    status.className = 'error';
    status.textContent = t('command.chooseTerminal');
    return;
  }
  const ttl = ttlOf('command-ttl');
  state.sent = null;
  renderSent();
  try {
    status.textContent = t('command.sending', { sn });
    const query = ttl ? `?ttl=${encodeURIComponent(ttl)}` : '';
    const sent = await api('POST', `/api/devices/${encodeURIComponent(sn)}/commands${query}`, { ...extra, cmd: $('command-cmd').value.trim() });
    // Shown at once as answered; the command itself (times, reply) is read now and again on each of its events.
    state.sent = sent;
    renderSent();
    await loadSent();
    scheduleCommands();
  } catch (err) {
    status.className = 'error';
    status.textContent = t('command.notSent', { error: err.message });
    scheduleCommands();
  }
}

// A fan-out: one command per terminal, each with its own state (README §Commands with replies).

function renderBatch() {
  const batch = state.batch;
  $('fanout-batch').hidden = batch === null;
  if (batch === null) return;
  const items = [...batch.items.values()].sort((a, b) => bySerial({ sn: a.device_sn }, { sn: b.device_sn }));
  $('fanout-batch-id').textContent = batch.id;
  const counts = STATES.map((s) => [s, items.filter((c) => c.status === s).length]).filter(([, n]) => n > 0);
  $('fanout-counts').textContent = t('fanout.counts', {
    n: items.length,
    first: batch.more ? t('fanout.first', { n: items.length }) : '',
    counts: counts.map(([s, n]) => `${n} ${term('command.status', s)}`).join(', '),
  });
  $('fanout-items').replaceChildren(...items.map((c) => commandItem(c)));
}

async function loadBatch() {
  const batch = state.batch;
  if (batch === null) return;
  try {
    const items = await loadList(`/api/commands?batch=${encodeURIComponent(batch.id)}&limit=${BATCH_SHOWN}`, BATCH_SHOWN);
    if (state.batch !== batch) return;
    for (const c of items) batch.items.set(c.id, c);
    renderBatch();
  } catch (err) {
    toast(t('fanout.error', { id: batch.id, error: err.message }));
  }
}

const scheduleBatch = debounced(loadBatch);

async function sendFanout(event) {
  event.preventDefault();
  const status = $('fanout-status');
  status.className = 'muted';
  const all = $('fanout-all').checked;
  const devices = all
    ? 'all'
    : $('fanout-devices')
        .value.split(/[\s,]+/)
        .filter(Boolean);
  const command = parseObject($('fanout-command').value.trim(), '{"cmd": "openDoorD"}');
  const fail = (message) => {
    status.className = 'error';
    status.textContent = message;
  };
  if (command instanceof Error) return fail(t('fanout.commandBad', { error: command.message }));
  if (!all && devices.length === 0) return fail(t('fanout.listTerminals'));
  try {
    status.textContent = t('fanout.sending');
    const answer = await api('POST', '/api/commands', { devices, command, ttl: ttlOf('fanout-ttl') });
    state.batch = { id: answer.batch, items: new Map(answer.items.map((c) => [c.id, c])), more: answer.items.length > BATCH_SHOWN };
    status.textContent = '';
    renderBatch();
    await loadBatch();
    scheduleCommands();
  } catch (err) {
    fail(t('command.notSent', { error: err.message }));
  }
}

$('fanout-all').addEventListener('change', () => ($('fanout-devices').disabled = $('fanout-all').checked));

// The history: newest first, filtered by state, batch and terminal.

async function loadCommands() {
  const query = new URLSearchParams({ limit: String(COMMANDS_SHOWN) });
  for (const [name, id] of [
    ['status', 'commands-status'],
    ['batch', 'commands-batch'],
    ['device', 'commands-device'],
  ]) {
    const value = $(id).value.trim();
    if (value) query.set(name, value);
  }
  try {
    state.commands = await loadList(`/api/commands?${query}`, COMMANDS_SHOWN);
    $('commands').replaceChildren(...state.commands.map((c) => commandItem(c)));
    $('commands-empty').hidden = state.commands.length > 0;
  } catch (err) {
    toast(t('commands.error', { error: err.message }));
  }
}

const scheduleCommands = debounced(loadCommands);

function filterCommands(event) {
  event.preventDefault();
  loadCommands();
}

/** A command event: the command it is about changed state; each view that shows it reads it again. */
function onCommandEvent(event) {
  if (state.sent?.id === event.command_id) loadSent();
  if (state.batch?.items.has(event.command_id)) scheduleBatch();
  scheduleCommands();
}

function onTerminalOnline(sn) {
  const queued = (c) => c.device_sn === sn && c.status === 'queued';
  if (state.sent && queued(state.sent)) setTimeout(loadSent, 500);
  if (state.batch && [...state.batch.items.values()].some(queued)) scheduleBatch();
  if (state.commands.some(queued)) scheduleCommands();
}

/**
 * Queued commands go out without an event (a terminal subscribing, a
 * fan-out paced by COMMAND_RATE): views holding one are read again now and
 * then; every other change comes with an event.
 */
function pollQueued() {
  const queued = (c) => c.status === 'queued';
  if (state.sent && queued(state.sent)) loadSent();
  if (state.batch && [...state.batch.items.values()].some(queued)) loadBatch();
  if (state.commands.some(queued)) loadCommands();
}

// ---- people on the terminals (README §People on the terminals) ---------------

/** People a page shows; "More people" fetches the next page (GET /api/people is in num order). */
const PEOPLE_SHOWN = 50;
/** Terminals a person's detail lists, failures first; a person meant for thousands of terminals shows the first ones. */
const PERSON_TERMINALS_SHOWN = 500;
/** A person's states on a terminal, in the order they show: what needs a look first. */
const SYNC_ORDER = ['failed', 'sent', 'pending', 'applied'];
/** Details read at once to count a page's states: one request per person, a few at a time. */
const COUNT_REQUESTS = 4;

const people = {
  cursor: null, // next_cursor of the last page fetched; null once all are here
  counts: new Map(), // num → { failed, sent, pending, applied } from the person's detail
  open: null, // the person whose detail shows, as GET /api/people/{num} gives it
  defaulted: false, // the state filter was set to "failed" once, when there were failures
  poll: null,
  polling: false, // a round of pollPeople is under way
};

const personPath = (num) => `/api/people/${encodeURIComponent(num)}`;

function stateCounts(devices) {
  const counts = Object.fromEntries(SYNC_ORDER.map((s) => [s, 0]));
  for (const d of devices) counts[d.status]++;
  return counts;
}

const countsText = (counts) =>
  SYNC_ORDER.filter((s) => counts[s] > 0)
    .map((s) => t('people.count', { n: counts[s], status: term('sync.status', s) }))
    .join(' · ') || t('people.noTerminal');

/** A person's photo through its route, with the session cookie; read only when it scrolls into view. */
const personPhoto = (p, cls = 'thumb') =>
  p.has_photo
    ? h('img', {
        class: cls,
        src: `${personPath(p.num)}/photo?v=${encodeURIComponent(p.updated_at)}`,
        alt: t('person.photoOf', { name: p.name }),
        loading: 'lazy',
      })
    : h('span', { class: `${cls} none`, 'aria-hidden': 'true' }, '☺');

function renderCounts(num) {
  const item = [...$('people').children].find((li) => li.dataset.num === num);
  const counts = people.counts.get(num);
  if (!item || !counts) return;
  item
    .querySelector('.counts')
    .replaceChildren(
      ...SYNC_ORDER.filter((s) => counts[s] > 0).map((s) =>
        h('span', { class: `badge ${s}` }, t('people.count', { n: counts[s], status: term('sync.status', s) })),
      ),
      SYNC_ORDER.some((s) => counts[s] > 0) ? '' : t('people.noTerminal'),
    );
  item.dataset.failed = String(counts.failed);
}

function personItem(p) {
  return h(
    'li',
    { class: `person${p.deleted ? ' deleted' : ''}${people.open?.num === p.num ? ' open' : ''}`, 'data-num': p.num },
    personPhoto(p),
    h(
      'button',
      { type: 'button', class: 'body plain', onclick: () => openPerson(p.num) },
      h(
        'span',
        { class: 'line' },
        h('span', { class: 'name' }, p.name),
        h('span', { class: 'mono muted' }, p.num),
        p.deleted ? h('span', { class: 'badge expired' }, t('people.beingRemoved')) : null,
        p.status ? h('span', { class: `badge ${p.status}` }, t('people.here', { status: term('sync.status', p.status) })) : null,
      ),
      h('span', { class: 'counts small muted' }, '…'),
    ),
  );
}

/** Counts each listed person's states from their detail, a few requests at a time. */
async function countPeople(nums) {
  const queue = [...nums];
  const worker = async () => {
    for (let num = queue.shift(); num !== undefined; num = queue.shift()) {
      try {
        const view = await api('GET', personPath(num));
        people.counts.set(num, stateCounts(view.devices));
        renderCounts(num);
      } catch (err) {
        if (err.status !== 404) throw err;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: COUNT_REQUESTS }, worker));
  } catch (err) {
    toast(t('people.error', { error: err.message }));
  }
}

async function loadPeople({ more = false } = {}) {
  try {
    // Failures first: the list opens on the people a terminal refused, when there are any.
    if (!people.defaulted) {
      people.defaulted = true;
      const failed = await api('GET', '/api/people?status=failed&limit=1');
      if (failed.items.length > 0 && !$('people-status').value) $('people-status').value = 'failed';
    }
    const query = new URLSearchParams({ limit: String(PEOPLE_SHOWN) });
    if ($('people-status').value) query.set('status', $('people-status').value);
    if ($('people-device').value.trim()) query.set('device', $('people-device').value.trim());
    if (more) query.set('cursor', people.cursor);
    const page = await api('GET', `/api/people?${query}`);
    const items = page.items.map(personItem);
    if (more) $('people').append(...items);
    else {
      // Only the people listed are counted and read again.
      people.counts = new Map();
      $('people').replaceChildren(...items);
    }
    people.cursor = page.next_cursor;
    $('people-empty').hidden = $('people').children.length > 0;
    $('people-more').hidden = people.cursor === null;
    for (const p of page.items) renderCounts(p.num);
    await countPeople(page.items.map((p) => p.num));
  } catch (err) {
    toast(t('people.error', { error: err.message }));
  }
}

const schedulePeople = debounced(loadPeople);

function personTerminal(p, d) {
  const refused = d.status === 'failed';
  return h(
    'li',
    { class: `command ${d.status}`, 'data-sn': d.device_sn, 'data-status': d.status },
    h(
      'div',
      { class: 'line' },
      h('span', { class: `badge state ${d.status}` }, term('sync.status', d.status)),
      h('span', { class: 'sn' }, d.device_sn),
      h('span', { class: 'muted small' }, t(d.op === 'delete' ? 'person.removal' : 'person.enrolment')),
      h('span', { class: 'muted small' }, time(d.updated_at)),
      refused && may('operator') ? h('button', { type: 'button', class: 'retry', onclick: () => retryPerson(p.num, d.device_sn) }, t('retry')) : null,
    ),
    // What the terminal answered when it refused (README §People on the terminals).
    d.code !== null || d.message
      ? h(
          'div',
          { class: `small refusal ${refused ? 'error' : 'muted'}` },
          t('person.code', { code: JSON.stringify(d.code), message: d.message ? ` · ${d.message}` : '' }),
        )
      : null,
  );
}

function renderPerson() {
  const p = people.open;
  const detail = $('person-detail');
  detail.hidden = p === null;
  for (const li of $('people').children) li.classList.toggle('open', li.dataset.num === p?.num);
  if (p === null) return detail.replaceChildren();
  const devices = [...p.devices].sort(
    (a, b) => SYNC_ORDER.indexOf(a.status) - SYNC_ORDER.indexOf(b.status) || bySerial({ sn: a.device_sn }, { sn: b.device_sn }),
  );
  const counts = stateCounts(p.devices);
  const fields = Object.keys(p.fields).length > 0 ? JSON.stringify(p.fields) : null;
  detail.replaceChildren(
    h(
      'div',
      { class: 'person-head' },
      personPhoto(p, 'photo'),
      h(
        'div',
        { class: 'body' },
        h('div', { class: 'line' }, h('strong', { class: 'name' }, p.name), h('span', { class: 'mono muted' }, p.num)),
        h('div', { class: 'muted small' }, `${t(p.all_devices ? 'person.allTerminals' : 'person.listed')} · ${countsText(counts)}`),
        p.deleted ? h('div', { class: 'small' }, t('person.beingRemovedLong')) : null,
        fields ? h('div', { class: 'muted small mono fields' }, fields) : null,
        h(
          'div',
          { class: 'muted small' },
          p.actor ? t('person.changedBy', { time: time(p.updated_at), actor: p.actor }) : t('person.changed', { time: time(p.updated_at) }),
        ),
      ),
      h('button', { type: 'button', class: 'ghost close', onclick: closePerson, 'aria-label': t('close') }, '×'),
    ),
    // Retry, edit and remove are an operator's; erasing is an admin's (README §Tokens and roles).
    h(
      'div',
      { class: 'actions' },
      counts.failed > 0 && may('operator')
        ? h('button', { type: 'button', class: 'retry retry-all', onclick: () => retryPerson(p.num) }, t('person.retryFailed', { n: counts.failed }))
        : null,
      p.deleted || !may('operator') ? null : h('button', { type: 'button', class: 'ghost edit', onclick: () => editPerson(p) }, t('person.edit')),
      p.deleted || !may('operator') ? null : h('button', { type: 'button', class: 'ghost delete', onclick: () => deletePerson(p) }, t('person.remove')),
      may('admin') ? h('button', { type: 'button', class: 'ghost danger erase', onclick: () => erasePerson(p) }, t('person.erase')) : null,
    ),
    h(
      'ul',
      { class: 'commands person-terminals', tabindex: 0 },
      devices.slice(0, PERSON_TERMINALS_SHOWN).map((d) => personTerminal(p, d)),
    ),
    devices.length > PERSON_TERMINALS_SHOWN ? h('p', { class: 'muted small' }, t('person.moreTerminals', { n: devices.length - PERSON_TERMINALS_SHOWN })) : '',
  );
}

async function openPerson(num) {
  try {
    people.open = await api('GET', personPath(num));
    people.counts.set(num, stateCounts(people.open.devices));
    renderCounts(num);
  } catch (err) {
    if (err.status !== 404) return toast(t('person.error', { num, error: err.message }));
    // Gone: every terminal applied the removal.
    people.open = null;
    $('people')
      .querySelector(`li[data-num="${CSS.escape(num)}"]`)
      ?.remove();
  }
  renderPerson();
}

function closePerson() {
  people.open = null;
  renderPerson();
}

async function retryPerson(num, sn) {
  try {
    await api('POST', `${personPath(num)}/retry${sn ? `?device=${encodeURIComponent(sn)}` : ''}`);
  } catch (err) {
    toast(t('retry.error', { id: num, error: err.message }));
  }
  await openPerson(num);
}

function editPerson(p) {
  $('person-num').value = p.num;
  $('person-name').value = p.name;
  $('person-photo').value = '';
  $('person-all').checked = p.all_devices;
  $('person-devices').disabled = p.all_devices;
  $('person-devices').value = p.all_devices
    ? ''
    : p.devices
        .filter((d) => d.op === 'upsert')
        .map((d) => d.device_sn)
        .join(', ');
  $('person-fields').value = Object.keys(p.fields).length > 0 ? JSON.stringify(p.fields) : '';
  $('person-name').focus();
}

/** A Blob's bytes as base64 (without the data: prefix). */
function base64Of(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).slice(String(reader.result).indexOf(',') + 1));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** The photo to send: the file chosen, else the person's current one (a PUT without a photo would leave them without). */
async function photoToSend(num) {
  const file = $('person-photo').files[0];
  if (file) return base64Of(file);
  const current = await fetch(`${personPath(num)}/photo`);
  return current.ok ? base64Of(await current.blob()) : undefined;
}

async function savePerson(event) {
  event.preventDefault();
  const status = $('person-status');
  const fail = (message) => {
    status.className = 'error';
    status.textContent = message;
  };
  status.className = 'muted';
  const num = $('person-num').value;
  const raw = $('person-fields').value.trim();
  const fields = raw ? parseObject(raw, '{"card": "C-42"}') : {};
  if (fields instanceof Error) return fail(t('person.fieldsBad', { error: fields.message }));
  const devices = $('person-all').checked
    ? 'all'
    : $('person-devices')
        .value.split(/[\s,]+/)
        .filter(Boolean);
  if (devices !== 'all' && devices.length === 0) return fail(t('fanout.listTerminals'));
  try {
    status.textContent = t('person.saving');
    const photo = await photoToSend(num);
    const answer = await api('PUT', personPath(num), { ...fields, name: $('person-name').value, devices, ...(photo && { photo }) });
    status.textContent = t('person.saved', { num: answer.person.num, n: answer.items.length });
    $('person-photo').value = '';
    await openPerson(answer.person.num);
    await loadPeople();
  } catch (err) {
    fail(t('person.notSaved', { error: err.message }));
  }
}

async function deletePerson(p) {
  if (!confirm(t('person.confirmRemove', { name: p.name, num: p.num }))) return;
  try {
    const answer = await api('DELETE', personPath(p.num));
    $('person-status').className = 'muted';
    $('person-status').textContent = t('person.removing', { num: p.num, n: answer.items.length });
  } catch (err) {
    toast(t('person.removeError', { num: p.num, error: err.message }));
  }
  await openPerson(p.num);
  await loadPeople();
}

async function erasePerson(p) {
  if (!confirm(t('person.confirmErase', { name: p.name, num: p.num }))) return;
  try {
    const { erased } = await api('DELETE', `${personPath(p.num)}?erase=true`);
    $('person-status').className = 'muted';
    $('person-status').textContent = t('person.erased', { num: p.num, ...erased });
  } catch (err) {
    toast(t('person.eraseError', { num: p.num, error: err.message }));
  }
  await openPerson(p.num);
  await loadPeople();
}

/**
 * person.synced and person.sync_failed: the person's detail and counts are
 * read again, the list when it is filtered by state. A command event (a
 * person's command is one) reads again the people still waiting on a terminal.
 */
function onPersonEvent(event) {
  if (event.type.startsWith('command.')) return schedulePollPeople();
  if (people.open?.num === event.num) openPerson(event.num);
  else if (people.counts.has(event.num)) countPeople([event.num]);
  if ($('people-status').value || !people.counts.has(event.num)) schedulePeople();
}

/**
 * A terminal's answer to one person among others tells no event of its own
 * (person.synced waits for every terminal): the people waiting on a terminal
 * (pending, sent) are read again now and then, a page of them at most, one
 * round at a time.
 */
async function pollPeople() {
  if (state.stream === null || people.polling) return;
  people.polling = true;
  try {
    const waiting = (counts) => counts.pending > 0 || counts.sent > 0;
    if (people.open && waiting(stateCounts(people.open.devices))) await openPerson(people.open.num);
    const nums = [...people.counts].filter(([num, counts]) => num !== people.open?.num && waiting(counts)).map(([num]) => num);
    if (nums.length > 0) await countPeople(nums.slice(0, PEOPLE_SHOWN));
  } finally {
    people.polling = false;
  }
}

const schedulePollPeople = debounced(pollPeople);

$('people-filter').addEventListener('submit', (event) => {
  event.preventDefault();
  loadPeople();
});
$('people-status').addEventListener('change', () => loadPeople());
$('people-more').addEventListener('click', () => loadPeople({ more: true }));
$('person-form').addEventListener('submit', savePerson);
$('person-all').addEventListener('change', () => ($('person-devices').disabled = $('person-all').checked));

// ---- rejected messages (README §Malformed messages, "What a terminal really sent") ---

/** Rejects a page shows; "Older" fetches the next ones. */
const REJECTS_SHOWN = 50;

const rejects = { cursor: null };

function rejectItem(r) {
  const cut = r.size > new TextEncoder().encode(r.sample).length;
  return h(
    'li',
    { class: 'reject', 'data-id': r.id },
    h(
      'div',
      { class: 'line' },
      h('span', { class: 'badge dead' }, term('reject', r.reason)),
      h('span', { class: 'muted small mono' }, r.reason),
      h('span', { class: 'sn' }, r.device_sn ?? t('rejects.noSerial')),
      h('span', { class: 'muted small mono' }, r.topic),
      h('span', { class: 'muted small' }, t('rejects.size', { size: formatNumber(r.size), time: time(r.received_at) })),
    ),
    r.detail ? h('div', { class: 'small detail' }, r.detail) : null,
    // The message as it came: text, never markup.
    h('pre', { class: 'sample', tabindex: 0 }, r.sample),
    cut ? h('div', { class: 'muted small' }, t('rejects.cut', { size: kilobytes(new TextEncoder().encode(r.sample).length) })) : null,
  );
}

/**
 * Newest first. A terminal's rejects are looked for within a window of the
 * table (README §Lists): a page may be short, even empty, with a cursor to go
 * on from, which is followed while the view is not full.
 */
async function loadRejects({ more = false } = {}) {
  const device = $('rejects-device').value.trim();
  const base = `/api/rejects?limit=${REJECTS_SHOWN}${device ? `&device=${encodeURIComponent(device)}` : ''}`;
  const items = [];
  let cursor = more ? rejects.cursor : null;
  try {
    for (let requests = 0; requests < MAX_LIST_REQUESTS; requests++) {
      const page = await api('GET', cursor === null ? base : `${base}&cursor=${encodeURIComponent(cursor)}`);
      items.push(...page.items);
      cursor = page.next_cursor;
      if (cursor === null || items.length >= REJECTS_SHOWN) break;
    }
  } catch (err) {
    return toast(t('rejects.error', { error: err.message }));
  }
  rejects.cursor = cursor;
  if (more) $('rejects').append(...items.map(rejectItem));
  else $('rejects').replaceChildren(...items.map(rejectItem));
  $('rejects-empty').hidden = $('rejects').children.length > 0;
  $('rejects-more').hidden = cursor === null;
}

$('rejects-filter').addEventListener('submit', (event) => {
  event.preventDefault();
  loadRejects();
});
$('rejects-more').addEventListener('click', () => loadRejects({ more: true }));

/** The people and rejects views, loaded with the rest of the console; people waiting on a terminal read again every QUEUED_POLL_MS. */
function startPeople() {
  loadPeople();
  loadRejects();
  people.poll ??= setInterval(pollPeople, QUEUED_POLL_MS);
}

// ---- start ------------------------------------------------------------------

// ---- roles (README §Tokens and roles) ---------------------------------------

/** The roles in order: a role may what the ones before it may. The API checks every request; the console only does not offer what would be refused. */
const ROLE_ORDER = ['viewer', 'operator', 'admin'];
const may = (needed) => ROLE_ORDER.indexOf(state.role) >= ROLE_ORDER.indexOf(needed);

/** Forms a role may not use (their data-role names the role they need): disabled, with the reason said in the form. */
function applyRole() {
  for (const form of document.querySelectorAll('form[data-role]')) {
    const allowed = may(form.dataset.role);
    for (const control of form.elements) control.disabled = !allowed;
    // The serials' box stays off while "all terminals" is ticked.
    if (allowed && form.id === 'person-form') $('person-devices').disabled = $('person-all').checked;
    if (allowed && form.id === 'fanout') $('fanout-devices').disabled = $('fanout-all').checked;
    const note = $(form.getAttribute('aria-describedby'));
    note.hidden = allowed;
    note.textContent = allowed ? '' : t('role.needs', { role: term('role', form.dataset.role), current: term('role', state.role) });
  }
}

// ---- language and time zone (SPEC §Operators) ---------------------------------

/** Shows the page in a language: its own texts, <html lang>, and every list drawn again. */
function showLanguage(next) {
  setLang(next);
  document.documentElement.lang = lang();
  $('lang').value = lang();
  translatePage(document);
  if (state.info) showZone();
  if (state.session) showSession();
  fillEventTypes();
  if (!$('console-view').hidden) redraw();
}

function showZone() {
  const { time_zone: zone, utc_offset: offset } = state.info;
  $('zone').textContent = t('zone.short', { zone, offset });
  $('zone').title = t('zone.label', { zone, offset });
  $('zone').hidden = false;
}

function showSession() {
  $('whoami').textContent = t('role.label', { name: state.session.name, role: term('role', state.session.role) });
  $('whoami').hidden = false;
  applyRole();
}

/** Every list again in the language shown (from what the page holds, and the lists read again). */
function redraw() {
  renderTerminals();
  renderSent();
  renderBatch();
  renderPerson();
  if (state.paused) $('events-held').textContent = t('events.paused', { n: state.paused.count });
  for (const li of [...$('events').children]) li.replaceWith(eventItem(state.events.get(li.dataset.id)));
  loadDeliveries();

  loadCommands();
  loadEndpoints();
  loadPeople();
  loadRejects();
}

$('lang').addEventListener('change', () => {
  try {
    localStorage.setItem(STORAGE_KEY, $('lang').value);
  } catch {
    // Storage refused (a private window's policy): the choice holds for this page.
  }
  showLanguage($('lang').value);
});

function storedLang() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

// ---- start ------------------------------------------------------------------

async function start() {
  try {
    state.session = await api('GET', '/api/session');
  } catch (err) {
    if (err.status !== 401) showLogin(err.message);
    return;
  }
  state.role = state.session.role;
  showSession();
  $('login-view').hidden = true;
  $('console-view').hidden = false;
  $('logout').hidden = false;
  setLive('live.connecting', false);
  try {
    // The site's zone first: every time shown is in it, not the browser's.
    state.info = await api('GET', '/api/info');
    setZone(state.info.time_zone);
    showZone();
    const [newest] = await Promise.all([loadEvents(), loadTerminals(), loadDeliveries(), loadCommands(), loadEndpoints(), loadEventTypes()]);
    startStream(newest);
    // Deliveries change without events (retries, dead letters): refresh now and then.
    state.poll = setInterval(loadDeliveries, 5000);
    state.queuedPoll = setInterval(pollQueued, QUEUED_POLL_MS);
    // "last seen 3 minutes ago" ages: the list is drawn again each minute.
    state.ageing = setInterval(renderTerminals, 60_000);
    startPeople();
  } catch (err) {
    toast(err.message);
  }
}

// A list that scrolls takes the keyboard's focus, so it scrolls without a mouse (WCAG 2.1.1).
for (const list of document.querySelectorAll('ul.terminals, ul.commands, ul.events, ul.people, ul.rejects')) list.tabIndex = 0;

$('login').addEventListener('submit', login);
$('command').addEventListener('submit', sendCommand);
$('fanout').addEventListener('submit', sendFanout);
$('commands-filter').addEventListener('submit', filterCommands);
$('commands-status').addEventListener('change', loadCommands);
$('terminals-more').addEventListener('click', moreTerminals);
document.querySelector('.tabs').addEventListener('click', chooseTab);
document.querySelector('.tabs').addEventListener('keydown', tabKey);
$('events-pause').addEventListener('click', togglePause);
$('endpoint').addEventListener('submit', addEndpoint);
$('endpoint-format').addEventListener('change', fillEventTypes);
showLanguage(chooseLang(storedLang(), navigator.languages));
start();
