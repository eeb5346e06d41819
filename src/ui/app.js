// facegate console: one module, no build step. Auth is the HttpOnly session
// cookie set by POST /ui/login; this script never sees the token.

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
  eventIds: new Set(),
  deliveryStatus: 'dead',
  sent: null, // the command the form sent last, as GET /api/commands/{id} gives it
  batch: null, // the fan-out sent last: { id, items: Map id → command }
  commands: [], // the history as shown
  stream: null,
  poll: null,
  queuedPoll: null,
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

class ApiError extends Error {
  constructor(status, code, message) {
    super(`${message} (${code}, HTTP ${status})`);
    this.status = status;
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
    throw new ApiError(0, 'network', `cannot reach the bridge: ${err.message}`);
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
    if (response.status === 401 && path !== '/ui/login') showLogin('Your session has ended; sign in again.');
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

const time = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }) : '—');

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

const kilobytes = (bytes) => `${Math.round(bytes / 1024).toLocaleString()} KB`;

/** A link to the whole of an event a list or the stream showed short. */
const wholeEvent = (event) => h('a', { href: `/api/events/${encodeURIComponent(event.id)}`, target: '_blank', rel: 'noopener', class: 'whole' }, 'whole event');

// ---- login / logout ---------------------------------------------------------

function showLogin(message) {
  stopLive();
  $('console-view').hidden = true;
  $('logout').hidden = true;
  $('live').hidden = true;
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
    $('login-error').textContent = err.status === 401 ? 'Wrong token.' : err.message;
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
    ...terminals.map((t) =>
      h(
        'li',
        { class: `terminal ${t.online ? 'online' : 'offline'}`, 'data-sn': t.sn },
        h('span', { class: 'dot', 'aria-hidden': 'true' }),
        h('span', { class: 'sn' }, t.sn),
        h('span', { class: 'state' }, t.online ? 'online' : 'offline'),
        h('span', { class: 'seen muted' }, `last seen ${time(t.last_seen_at)}`),
      ),
    ),
  );
  $('terminals-empty').hidden = terminals.length > 0;
  $('terminals-more').hidden = state.terminalsCursor === null;

  const select = $('command-sn');
  const chosen = select.value;
  select.replaceChildren(...terminals.map((t) => h('option', { value: t.sn }, `${t.sn}${t.online ? '' : ' (offline)'}`)));
  if (terminals.some((t) => t.sn === chosen)) select.value = chosen;
  else if (terminals.some((t) => t.online)) select.value = terminals.find((t) => t.online).sn;
}

async function loadTerminals({ more = false } = {}) {
  const cursor = more ? `&cursor=${encodeURIComponent(state.terminalsCursor)}` : '';
  const { items, next_cursor } = await api('GET', `/api/devices?limit=${TERMINALS_PAGE}${cursor}`);
  if (!more) state.terminals = new Map();
  for (const t of items) state.terminals.set(t.sn, t);
  state.terminalsCursor = next_cursor;
  renderTerminals();
}

async function moreTerminals() {
  try {
    await loadTerminals({ more: true });
  } catch (err) {
    toast(`Terminals: ${err.message}`);
  }
}

/** A terminal the stream tells of belongs in the list unless it sorts after the pages fetched so far (it comes with a later one). */
const listable = (sn) => state.terminals.has(sn) || state.terminalsCursor === null || sn < state.terminalsCursor;

// ---- events -----------------------------------------------------------------

function describe(event) {
  // Too large to list (README §HTTP API, Lists): its size, and a link to all of it.
  if (event.truncated)
    return [`${event.type === 'device.message' ? 'message' : 'fields'} of ${kilobytes(event.fields_bytes)}, not shown here · `, wholeEvent(event)];
  if (event.type.startsWith('face.')) {
    const who = [event.name, event.user_id && `#${event.user_id}`].filter(Boolean).join(' ') || 'unknown person';
    return event.verifiedCode !== undefined ? `${who} · code ${event.verifiedCode}` : who;
  }
  if (event.type === 'device.message') return JSON.stringify(event.message);
  if (event.type === 'command.replied') return `${event.cmd} → ${JSON.stringify(event.reply)}`;
  if (event.type === 'command.unanswered') return `${event.cmd}: no reply in time`;
  if (event.type === 'command.expired') return `${event.cmd}: its ttl ran out before it could go out`;
  if (event.type === 'person.synced') return `person ${event.num} ${event.deleted ? 'removed from' : 'in step on'} every terminal meant for them`;
  if (event.type === 'person.sync_failed')
    return `person ${event.num} refused: code ${JSON.stringify(event.code)}${event.message ? ` · ${event.message}` : ''}`;
  return `last seen ${time(event.last_seen_at)}`;
}

function eventItem(event) {
  const kind = event.type.split('.')[1];
  return h(
    'li',
    { class: `event ${event.type.replace('.', '-')}`, 'data-id': event.id },
    event.has_image
      ? h('img', { class: 'thumb', src: `/api/events/${encodeURIComponent(event.id)}/image`, alt: `face of ${event.name ?? 'unknown'}`, loading: 'lazy' })
      : h('span', { class: 'thumb none', 'aria-hidden': 'true' }, event.type.startsWith('command.') ? '↩' : kind === 'message' ? '✉' : '●'),
    h(
      'div',
      { class: 'body' },
      h('div', { class: 'line' }, h('span', { class: `badge ${kind}` }, event.type), h('span', { class: 'sn' }, event.device_sn)),
      h('div', { class: 'what' }, describe(event)),
      h('div', { class: 'muted small' }, time(event.received_at)),
    ),
  );
}

function addEvent(event, { prepend }) {
  if (state.eventIds.has(event.id)) return;
  state.eventIds.add(event.id);
  const list = $('events');
  const item = eventItem(event);
  if (prepend) list.prepend(item);
  else list.append(item);
  while (list.children.length > MAX_EVENTS) {
    state.eventIds.delete(list.lastElementChild.dataset.id);
    list.lastElementChild.remove();
  }
  $('events-empty').hidden = list.children.length > 0;
}

async function loadEvents() {
  const items = await loadList(`/api/events?limit=${MAX_EVENTS}`, MAX_EVENTS);
  $('events').replaceChildren();
  state.eventIds.clear();
  for (const event of items) addEvent(event, { prepend: false });
  $('events-empty').hidden = items.length > 0;
  return items[0]?.id;
}

// ---- live stream ------------------------------------------------------------

function setLive(text, ok) {
  $('live').hidden = false;
  $('live').textContent = text;
  $('live').className = `pill ${ok ? 'ok' : 'warn'}`;
}

function onStreamEvent(event) {
  addEvent(event, { prepend: true });
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
  source.onopen = () => setLive('live', true);
  source.onerror = async () => {
    if (source.readyState === EventSource.CLOSED) {
      // EventSource gives up on an HTTP error (e.g. 401): find out why, retry later if still signed in.
      setLive('disconnected', false);
      try {
        await api('GET', '/api/session');
        setTimeout(() => state.stream === source && startStream(newestEventId()), 3000);
      } catch {
        /* api() has shown the login form or the error */
      }
    } else setLive('reconnecting…', false);
  };
  // Every type the API knows (its document's list, loadEventTypes), the alerts and people's among them.
  for (const type of new Set([...EVENT_TYPES, ...COMMAND_EVENTS, ...PERSON_EVENTS])) {
    source.addEventListener(type, (message) => onStreamEvent(JSON.parse(message.data)));
  }
}

const newestEventId = () => $('events').firstElementChild?.dataset.id;

function stopLive() {
  state.stream?.close();
  state.stream = null;
  clearInterval(state.poll);
  clearInterval(state.queuedPoll);
}

// ---- deliveries -------------------------------------------------------------

function deliveryItem(d) {
  const outcome = d.last_error ?? (d.last_status ? `HTTP ${d.last_status}` : 'not tried yet');
  return h(
    'li',
    { class: `delivery ${d.status}`, 'data-id': d.id },
    h(
      'div',
      { class: 'body' },
      h(
        'div',
        { class: 'line' },
        h('span', { class: `badge ${d.status}` }, d.status),
        h('span', { class: 'mono' }, d.event_type),
        h('span', { class: 'muted small' }, `→ ${d.endpoint_id}`),
      ),
      h(
        'div',
        { class: 'muted small' },
        `${d.attempts} attempt${d.attempts === 1 ? '' : 's'} · ${outcome} · ${time(d.delivered_at ?? d.last_attempt_at ?? d.created_at)}`,
      ),
      h('div', { class: 'muted small mono' }, `${d.id} · ${d.event_id}`),
    ),
    d.status === 'dead' ? h('button', { type: 'button', class: 'retry', onclick: () => retry(d.id) }, 'Retry') : null,
  );
}

async function loadDeliveries() {
  try {
    const items = await loadList(`/api/deliveries?status=${state.deliveryStatus}&limit=50`, 50);
    $('deliveries').replaceChildren(...items.map(deliveryItem));
    $('deliveries-empty').hidden = items.length > 0;
  } catch (err) {
    toast(`Deliveries: ${err.message}`);
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
    toast(`Retry ${id}: ${err.message}`);
  }
  await loadDeliveries();
}

function chooseTab(event) {
  const tab = event.target.closest('.tab');
  if (!tab) return;
  state.deliveryStatus = tab.dataset.status;
  for (const other of document.querySelectorAll('.tab')) other.classList.toggle('active', other === tab);
  loadDeliveries();
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
    ...EVENT_TYPES.map((type) => h('option', { value: type, selected: chat ? ALERTS.includes(type) : type === 'face.verified' }, type)),
  );
}

/** What the receiver answered a test message. */
function testAnswer(answer) {
  const parts = [answer.ok ? 'ok' : 'failed', answer.status === null ? 'no answer' : `HTTP ${answer.status}`];
  if (answer.code !== null && answer.code !== undefined) parts.push(`code ${answer.code}`);
  if (answer.error) parts.push(answer.error);
  return parts.join(' · ');
}

function endpointItem(e) {
  const state = e.enabled ? 'enabled' : `disabled (${e.disabled_reason})`;
  const answer = h('div', { class: 'muted small test-answer', role: 'status' });
  const test = async () => {
    answer.textContent = 'sending…';
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
        h('span', { class: `badge ${e.enabled ? 'delivered' : 'dead'}` }, state),
        h('span', { class: 'mono' }, `${e.format} · ${e.lang}`),
        h('span', { class: 'muted small mono' }, e.id),
      ),
      h('div', { class: 'small mono' }, e.url),
      h('div', { class: 'muted small' }, e.event_types.join(', ')),
      answer,
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', class: 'ghost test', onclick: test }, 'Test'),
      e.enabled
        ? h('button', { type: 'button', class: 'ghost', onclick: change('POST', `${base}/disable`) }, 'Disable')
        : h('button', { type: 'button', class: 'ghost', onclick: change('POST', `${base}/enable`) }, 'Enable'),
      h('button', { type: 'button', class: 'ghost', onclick: change('DELETE', base) }, 'Delete'),
    ),
  );
}

async function loadEndpoints() {
  try {
    const { items } = await api('GET', '/api/webhooks');
    $('endpoints').replaceChildren(...items.map(endpointItem));
    $('endpoints-empty').hidden = items.length > 0;
  } catch (err) {
    toast(`Endpoints: ${err.message}`);
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
    $('endpoint-status').textContent = `Added ${added.id}.`;
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
    return new Error(err.message);
  }
  return new Error(`must be a JSON object such as ${example}`);
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
    ['created', c.created_at],
    ['published', c.published_at],
    ['replied', c.replied_at],
  ].filter(([, at]) => at);
  if (c.expires_at && (c.status === 'queued' || c.status === 'expired')) times.push([c.status === 'expired' ? 'expired' : 'expires', c.expires_at]);
  const latency = c.replied_at && c.published_at ? Date.parse(c.replied_at) - Date.parse(c.published_at) : null;
  let reply = null;
  if (c.reply !== undefined && c.reply !== null) {
    reply = h(
      'div',
      { class: 'reply' },
      h(
        'div',
        { class: 'muted small' },
        `reply${c.replied_at ? ` at ${time(c.replied_at)}` : ''}`,
        latency === null ? null : h('span', { class: 'latency' }, ` · ${duration(latency)} after it went out`),
      ),
      laidOut ? h('pre', {}, JSON.stringify(c.reply, null, 2)) : h('pre', { class: 'oneline' }, JSON.stringify(c.reply)),
    );
  } else if (c.status === 'replied') {
    // Listed without its reply (too large for a list): the whole command has it.
    reply = h('div', { class: 'reply muted small' }, 'reply not listed · ', wholeCommand(c));
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
        h('span', { class: `badge state ${c.status}` }, c.status),
        h('span', { class: 'sn' }, c.device_sn),
        cmd === undefined ? null : h('span', { class: 'mono' }, cmd),
        c.truncated ? h('span', { class: 'muted small' }, `body of ${kilobytes(c.body_bytes)} · `, wholeCommand(c)) : null,
      ),
      times.length > 0 ? h('div', { class: 'muted small times' }, times.map(([what, at]) => `${what} ${time(at)}`).join(' · ')) : null,
      c.error ? h('div', { class: 'error small' }, c.error) : null,
      h('div', { class: 'muted small mono' }, [c.id, c.batch, c.actor && `by ${c.actor}`].filter(Boolean).join(' · ')),
      reply,
    ),
  );
}

const wholeCommand = (c) => h('a', { href: `/api/commands/${encodeURIComponent(c.id)}`, target: '_blank', rel: 'noopener', class: 'whole' }, 'whole command');

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
    if (command.status === 'replied') status.textContent = `Reply from ${command.device_sn}:`;
    else if (command.status === 'published') status.textContent = `Sent to ${command.device_sn}; waiting for its reply…`;
    else if (command.status === 'queued') status.textContent = `Held for ${command.device_sn} until it is online.`;
    else status.textContent = `${command.device_sn}: ${command.status}.`;
  } catch (err) {
    toast(`Command ${id}: ${err.message}`);
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
    status.textContent = `Extra fields: ${extra.message}`;
    return;
  }
  if (!sn) {
    status.className = 'error';
    status.textContent = 'Choose a terminal first.';
    return;
  }
  const ttl = ttlOf('command-ttl');
  state.sent = null;
  renderSent();
  try {
    status.textContent = `Sending to ${sn}…`;
    const query = ttl ? `?ttl=${encodeURIComponent(ttl)}` : '';
    const sent = await api('POST', `/api/devices/${encodeURIComponent(sn)}/commands${query}`, { ...extra, cmd: $('command-cmd').value.trim() });
    // Shown at once as answered; the command itself (times, reply) is read now and again on each of its events.
    state.sent = sent;
    renderSent();
    await loadSent();
    scheduleCommands();
  } catch (err) {
    status.className = 'error';
    status.textContent = `Not sent: ${err.message}`;
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
  $('fanout-counts').textContent =
    `${items.length} command${items.length === 1 ? '' : 's'}${batch.more ? ` (the first ${items.length})` : ''}: ${counts.map(([s, n]) => `${n} ${s}`).join(', ')}`;
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
    toast(`Batch ${batch.id}: ${err.message}`);
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
  if (command instanceof Error) return fail(`Command: ${command.message}`);
  if (!all && devices.length === 0) return fail('List the terminals, or tick All terminals.');
  try {
    status.textContent = 'Sending…';
    const answer = await api('POST', '/api/commands', { devices, command, ttl: ttlOf('fanout-ttl') });
    state.batch = { id: answer.batch, items: new Map(answer.items.map((c) => [c.id, c])), more: answer.items.length > BATCH_SHOWN };
    status.textContent = '';
    renderBatch();
    await loadBatch();
    scheduleCommands();
  } catch (err) {
    fail(`Not sent: ${err.message}`);
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
    toast(`Commands: ${err.message}`);
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
    .map((s) => `${counts[s]} ${s}`)
    .join(' · ') || 'no terminal';

/** A person's photo through its route, with the session cookie; read only when it scrolls into view. */
const personPhoto = (p, cls = 'thumb') =>
  p.has_photo
    ? h('img', { class: cls, src: `${personPath(p.num)}/photo?v=${encodeURIComponent(p.updated_at)}`, alt: `photo of ${p.name}`, loading: 'lazy' })
    : h('span', { class: `${cls} none`, 'aria-hidden': 'true' }, '☺');

function renderCounts(num) {
  const item = [...$('people').children].find((li) => li.dataset.num === num);
  const counts = people.counts.get(num);
  if (!item || !counts) return;
  item
    .querySelector('.counts')
    .replaceChildren(
      ...SYNC_ORDER.filter((s) => counts[s] > 0).map((s) => h('span', { class: `badge ${s}` }, `${counts[s]} ${s}`)),
      SYNC_ORDER.some((s) => counts[s] > 0) ? '' : 'no terminal',
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
        p.deleted ? h('span', { class: 'badge expired' }, 'being removed') : null,
        p.status ? h('span', { class: `badge ${p.status}` }, `${p.status} here`) : null,
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
    toast(`People: ${err.message}`);
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
    toast(`People: ${err.message}`);
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
      h('span', { class: `badge state ${d.status}` }, d.status),
      h('span', { class: 'sn' }, d.device_sn),
      h('span', { class: 'muted small' }, d.op === 'delete' ? 'removal' : 'enrolment'),
      h('span', { class: 'muted small' }, time(d.updated_at)),
      refused ? h('button', { type: 'button', class: 'retry', onclick: () => retryPerson(p.num, d.device_sn) }, 'Retry') : null,
    ),
    // What the terminal answered when it refused (README §People on the terminals).
    d.code !== null || d.message
      ? h('div', { class: `small refusal ${refused ? 'error' : 'muted'}` }, `code ${JSON.stringify(d.code)}${d.message ? ` · ${d.message}` : ''}`)
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
        h('div', { class: 'muted small' }, `${p.all_devices ? 'all terminals' : 'the terminals listed'} · ${countsText(counts)}`),
        p.deleted ? h('div', { class: 'small' }, 'Being removed from the terminals.') : null,
        fields ? h('div', { class: 'muted small mono fields' }, fields) : null,
        h('div', { class: 'muted small' }, p.actor ? `changed ${time(p.updated_at)} by ${p.actor}` : `changed ${time(p.updated_at)}`),
      ),
      h('button', { type: 'button', class: 'ghost close', onclick: closePerson, 'aria-label': 'close' }, '×'),
    ),
    h(
      'div',
      { class: 'actions' },
      counts.failed > 0 ? h('button', { type: 'button', class: 'retry retry-all', onclick: () => retryPerson(p.num) }, `Retry ${counts.failed} failed`) : null,
      p.deleted ? null : h('button', { type: 'button', class: 'ghost edit', onclick: () => editPerson(p) }, 'Edit'),
      p.deleted ? null : h('button', { type: 'button', class: 'ghost delete', onclick: () => deletePerson(p) }, 'Remove…'),
      h('button', { type: 'button', class: 'ghost danger erase', onclick: () => erasePerson(p) }, 'Erase all their data…'),
    ),
    h(
      'ul',
      { class: 'commands person-terminals' },
      devices.slice(0, PERSON_TERMINALS_SHOWN).map((d) => personTerminal(p, d)),
    ),
    devices.length > PERSON_TERMINALS_SHOWN ? h('p', { class: 'muted small' }, `and ${devices.length - PERSON_TERMINALS_SHOWN} more terminals`) : '',
  );
}

async function openPerson(num) {
  try {
    people.open = await api('GET', personPath(num));
    people.counts.set(num, stateCounts(people.open.devices));
    renderCounts(num);
  } catch (err) {
    if (err.status !== 404) return toast(`Person ${num}: ${err.message}`);
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
    toast(`Retry ${num}: ${err.message}`);
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
  if (fields instanceof Error) return fail(`Other fields: ${fields.message}`);
  const devices = $('person-all').checked
    ? 'all'
    : $('person-devices')
        .value.split(/[\s,]+/)
        .filter(Boolean);
  if (devices !== 'all' && devices.length === 0) return fail('List the terminals, or tick All terminals.');
  try {
    status.textContent = 'Saving…';
    const photo = await photoToSend(num);
    const answer = await api('PUT', personPath(num), { ...fields, name: $('person-name').value, devices, ...(photo && { photo }) });
    status.textContent = `Saved ${answer.person.num}: ${answer.items.length} terminal${answer.items.length === 1 ? '' : 's'}.`;
    $('person-photo').value = '';
    await openPerson(answer.person.num);
    await loadPeople();
  } catch (err) {
    fail(`Not saved: ${err.message}`);
  }
}

async function deletePerson(p) {
  if (!confirm(`Remove ${p.name} (${p.num}) from every terminal that has them?`)) return;
  try {
    const answer = await api('DELETE', personPath(p.num));
    $('person-status').className = 'muted';
    $('person-status').textContent = `Removing ${p.num} from ${answer.items.length} terminal${answer.items.length === 1 ? '' : 's'}.`;
  } catch (err) {
    toast(`Remove ${p.num}: ${err.message}`);
  }
  await openPerson(p.num);
  await loadPeople();
}

async function erasePerson(p) {
  const warning =
    `Erase ${p.name} (${p.num})?\n\n` +
    'This deletes now, for good, everything facegate holds about them: their face events and the images of those events, ' +
    'the pending deliveries of those events, their commands and their photo; the terminals get a removal. ' +
    'Backups and what receivers already have are not touched. It cannot be undone.';
  if (!confirm(warning)) return;
  try {
    const { erased } = await api('DELETE', `${personPath(p.num)}?erase=true`);
    $('person-status').className = 'muted';
    $('person-status').textContent =
      `Erased ${p.num}: ${erased.events} events, ${erased.images} images, ${erased.deliveries} deliveries, ${erased.photo} photo; removal sent to ${erased.terminals} terminals.`;
  } catch (err) {
    toast(`Erase ${p.num}: ${err.message}`);
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
      h('span', { class: 'badge dead' }, r.reason),
      h('span', { class: 'sn' }, r.device_sn ?? 'no serial'),
      h('span', { class: 'muted small mono' }, r.topic),
      h('span', { class: 'muted small' }, `${r.size.toLocaleString()} bytes · ${time(r.received_at)}`),
    ),
    r.detail ? h('div', { class: 'small detail' }, r.detail) : null,
    // The message as it came: text, never markup.
    h('pre', { class: 'sample' }, r.sample),
    cut ? h('div', { class: 'muted small' }, `the first ${kilobytes(new TextEncoder().encode(r.sample).length)} of it`) : null,
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
    return toast(`Rejected messages: ${err.message}`);
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

async function start() {
  try {
    await api('GET', '/api/session');
  } catch (err) {
    if (err.status !== 401) showLogin(err.message);
    return;
  }
  $('login-view').hidden = true;
  $('console-view').hidden = false;
  $('logout').hidden = false;
  setLive('connecting…', false);
  try {
    const [newest] = await Promise.all([loadEvents(), loadTerminals(), loadDeliveries(), loadCommands(), loadEndpoints(), loadEventTypes()]);
    startStream(newest);
    // Deliveries change without events (retries, dead letters): refresh now and then.
    state.poll = setInterval(loadDeliveries, 5000);
    state.queuedPoll = setInterval(pollQueued, QUEUED_POLL_MS);
    startPeople();
  } catch (err) {
    toast(err.message);
  }
}

$('login').addEventListener('submit', login);
$('command').addEventListener('submit', sendCommand);
$('fanout').addEventListener('submit', sendFanout);
$('commands-filter').addEventListener('submit', filterCommands);
$('commands-status').addEventListener('change', loadCommands);
$('terminals-more').addEventListener('click', moreTerminals);
document.querySelector('.tabs').addEventListener('click', chooseTab);
$('endpoint').addEventListener('submit', addEndpoint);
$('endpoint-format').addEventListener('change', fillEventTypes);
fillEventTypes();
start();
