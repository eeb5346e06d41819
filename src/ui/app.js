// facegate console: one module, no build step. Auth is the HttpOnly session
// cookie set by POST /ui/login; this script never sees the token.

const $ = (id) => document.getElementById(id);
const MAX_EVENTS = 100;
/** Terminals fetched at a time; "More terminals" fetches the next page (GET /api/devices is paged). */
const TERMINALS_PAGE = 100;
/** Requests one list may take to fill the view: a page may be short, even empty, and still go on (README §HTTP API, Lists). */
const MAX_LIST_REQUESTS = 20;

const state = {
  terminals: new Map(), // sn → device
  terminalsCursor: null, // next_cursor of the last page of terminals fetched; null once all are here
  eventIds: new Set(),
  deliveryStatus: 'dead',
  awaitingReplyFrom: null, // sn of the terminal whose next device.message is the command's reply
  stream: null,
  poll: null,
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
  if (event.type.startsWith('command.')) return `${event.cmd} ${event.command_id}${event.reply ? ` · ${JSON.stringify(event.reply)}` : ''}`;
  return `last seen ${time(event.last_seen_at)}`;
}

function eventItem(event) {
  const kind = event.type.split('.')[1];
  return h(
    'li',
    { class: `event ${event.type.replace('.', '-')}`, 'data-id': event.id },
    event.has_image
      ? h('img', { class: 'thumb', src: `/api/events/${encodeURIComponent(event.id)}/image`, alt: `face of ${event.name ?? 'unknown'}`, loading: 'lazy' })
      : h('span', { class: 'thumb none', 'aria-hidden': 'true' }, kind === 'message' ? '✉' : '●'),
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
  // A reply matched to its command is its command.replied event, carrying it as `reply`.
  if ((event.type === 'device.message' || event.type === 'command.replied') && event.device_sn === state.awaitingReplyFrom) {
    state.awaitingReplyFrom = null;
    $('command-status').textContent = `Reply from ${event.device_sn} at ${time(event.received_at)}:`;
    $('command-reply').replaceChildren(
      event.truncated
        ? h('span', {}, `${kilobytes(event.fields_bytes)}, too large to show here: `, wholeEvent(event))
        : JSON.stringify(event.message ?? event.reply, null, 2),
    );
    $('command-reply').hidden = false;
  }
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
  for (const type of [
    'face.verified',
    'face.rejected',
    'face.stranger',
    'device.online',
    'device.offline',
    'device.message',
    'command.replied',
    'command.unanswered',
    'command.expired',
  ]) {
    source.addEventListener(type, (message) => onStreamEvent(JSON.parse(message.data)));
  }
}

const newestEventId = () => $('events').firstElementChild?.dataset.id;

function stopLive() {
  state.stream?.close();
  state.stream = null;
  clearInterval(state.poll);
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

// ---- commands ---------------------------------------------------------------

async function sendCommand(event) {
  event.preventDefault();
  const sn = $('command-sn').value;
  const status = $('command-status');
  status.className = 'muted';
  $('command-reply').hidden = true;
  let extra = {};
  const raw = $('command-extra').value.trim();
  try {
    if (raw) extra = JSON.parse(raw);
    if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw new Error('must be a JSON object such as {"door": 1}');
  } catch (err) {
    status.className = 'error';
    status.textContent = `Extra fields: ${err.message}`;
    return;
  }
  if (!sn) {
    status.className = 'error';
    status.textContent = 'Choose a terminal first.';
    return;
  }
  try {
    state.awaitingReplyFrom = sn;
    status.textContent = `Sending to ${sn}…`;
    const sent = await api('POST', `/api/devices/${encodeURIComponent(sn)}/commands`, { ...extra, cmd: $('command-cmd').value.trim() });
    if (state.awaitingReplyFrom === sn) status.textContent = `Sent (${sent.id}, ${sent.status}); waiting for ${sn} to reply…`;
  } catch (err) {
    state.awaitingReplyFrom = null;
    status.className = 'error';
    status.textContent = `Not sent: ${err.message}`;
  }
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
    const [newest] = await Promise.all([loadEvents(), loadTerminals(), loadDeliveries()]);
    startStream(newest);
    // Deliveries change without events (retries, dead letters): refresh now and then.
    state.poll = setInterval(loadDeliveries, 5000);
  } catch (err) {
    toast(err.message);
  }
}

$('login').addEventListener('submit', login);
$('command').addEventListener('submit', sendCommand);
$('terminals-more').addEventListener('click', moreTerminals);
document.querySelector('.tabs').addEventListener('click', chooseTab);
start();
