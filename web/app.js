// OrderFlow dashboard: the newest orders from GET /api/orders?tail=100, then kept live
// from the order feed over a raw WebSocket (/ws/orders/feed), Server-Sent Events
// (/sse/orders) or the SignalR hub (/hubs/orders, through the official browser client,
// signalr.min.js), and a form that creates orders through POST /api/orders.
//
// The page reconnects by itself (exponential backoff with full jitter; over the hub, the
// client's automatic reconnect runs the same backoff) and resumes after the last seq it
// shows, so the table never misses an order nor shows one twice. The server guarantees
// that; the page still checks it and counts what it would have had to repair
// (data-duplicates, data-gaps on #status), so a test can assert both stay 0.
//
// Data from the server is only ever written with textContent.

'use strict';

const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 10_000;
const STABLE_AFTER_MS = 5_000;  // a connection up this long starts the backoff again from the base
const RATE_WINDOW_MS = 5_000;
const INITIAL_TAIL = 100;
const MAX_ROWS = 1_000;  // older rows leave the table so a long-lived page stays light
const TRANSPORTS = { ws: 'WebSocket', sse: 'Server-Sent Events', hub: 'SignalR hub' };
const HUB_TOPIC = 'orders';
const FIELDS = ['customerId', 'total', 'items'];

const el = (id) => document.getElementById(id);

const feed = {
  transport: 'ws',
  state: 'connecting',
  current: null,    // the connection in use: { close() }; null between attempts
  loaded: false,    // the initial tail is in the table
  lastSeq: 0,       // highest seq in the table: where a reconnect resumes
  attempt: 0,       // failed attempts since the last stable connection
  lostOnce: false,  // a connection was lost since the page loaded
  reconnects: 0,    // connections made live again after one was lost
  events: 0,
  duplicates: 0,
  gaps: 0,
  arrivals: [],     // times of the events of the last RATE_WINDOW_MS
  retryTimer: 0,
  stableTimer: 0,
};

// ---- status -------------------------------------------------------------------------

function setState(state, text) {
  feed.state = state;
  const status = el('status');
  status.dataset.state = state;
  status.textContent = text;
}

function renderCounts() {
  const status = el('status');
  status.dataset.transport = feed.transport;
  status.dataset.lastSeq = String(feed.lastSeq);
  status.dataset.reconnects = String(feed.reconnects);
  status.dataset.duplicates = String(feed.duplicates);
  status.dataset.gaps = String(feed.gaps);
  el('stat-events').textContent = String(feed.events);
  el('stat-rows').textContent = String(el('order-rows').rows.length);
  el('stat-last-seq').textContent = String(feed.lastSeq);
  el('stat-reconnects').textContent = String(feed.reconnects);
  el('stat-duplicates').textContent = String(feed.duplicates);
  el('stat-gaps').textContent = String(feed.gaps);
}

function renderRate() {
  const cutoff = performance.now() - RATE_WINDOW_MS;
  let stale = 0;
  while (stale < feed.arrivals.length && feed.arrivals[stale] < cutoff) stale++;
  feed.arrivals.splice(0, stale);
  el('stat-rate').textContent = (feed.arrivals.length / (RATE_WINDOW_MS / 1000)).toFixed(1);
}

// ---- the table ----------------------------------------------------------------------

const totalFormat = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

// order: { seq, orderId, customer, total, time } (time: an ISO 8601 string).
function addRow(order, fresh) {
  const tr = document.createElement('tr');
  tr.dataset.seq = String(order.seq);
  tr.dataset.orderId = String(order.orderId);
  if (fresh) tr.className = 'fresh';
  tr.append(
    cell(String(order.seq), 'num'),
    cell(String(order.orderId), 'mono'),
    cell(String(order.customer)),
    cell(typeof order.total === 'number' ? totalFormat.format(order.total) : String(order.total), 'num'));
  const td = document.createElement('td');
  const time = document.createElement('time');
  const date = new Date(order.time);
  time.dateTime = String(order.time);
  time.textContent = Number.isNaN(date.getTime()) ? String(order.time) : date.toLocaleTimeString(undefined, { hour12: false });
  td.append(time);
  tr.append(td);
  const rows = el('order-rows');
  rows.prepend(tr);
  while (rows.rows.length > MAX_ROWS) rows.lastElementChild.remove();
  feed.lastSeq = order.seq;
}

// An ORDER_CREATED event from the feed (the same JSON on every transport).
function onOrderEvent(event) {
  feed.events++;
  feed.arrivals.push(performance.now());
  if (!Number.isSafeInteger(event.seq)) {
    console.warn('order event without a valid seq', event);
    return;
  }
  if (event.seq <= feed.lastSeq) {
    feed.duplicates++;
  } else {
    if (event.seq !== feed.lastSeq + 1) feed.gaps++;
    addRow({ seq: event.seq, orderId: event.orderId, customer: event.customer, total: event.total,
      time: event.timestamp }, true);
  }
  renderCounts();
}

// ---- the feed -----------------------------------------------------------------------

function connect() {
  clearTimeout(feed.retryTimer);
  if (!navigator.onLine) {
    setState('offline', 'Offline: waiting for the network.');
    return;
  }
  const conn = { close() {} };
  feed.current = conn;
  setState('connecting', `Connecting (${TRANSPORTS[feed.transport]})…`);
  if (feed.loaded) {
    openFeed(conn);
    return;
  }
  loadTail(conn).then(() => {
    if (feed.current === conn) openFeed(conn);
  }, (err) => {
    console.warn('loading the latest orders failed:', err);
    lost(conn);
  });
}

async function loadTail(conn) {
  const res = await fetch(`/api/orders?tail=${INITIAL_TAIL}`, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!res.ok) throw new Error(`GET /api/orders answered ${res.status}`);
  const body = await res.json();
  if (feed.current !== conn || feed.loaded) return;  // a newer attempt took over
  for (const o of body.orders) {
    addRow({ seq: o.seq, orderId: o.orderId, customer: o.customerId, total: o.total, time: o.createdAt }, false);
  }
  feed.loaded = true;
  renderCounts();
}

function openFeed(conn) {
  if (feed.transport === 'sse') openEventSource(conn);
  else if (feed.transport === 'hub') openHub(conn);
  else openWebSocket(conn);
}

function openWebSocket(conn) {
  const url = new URL('/ws/orders/feed', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url);
  conn.close = () => ws.close(1000);
  ws.onopen = () => {
    if (feed.current !== conn) return;
    // Every stored order after the last one shown, then SUBSCRIBED, then live ones.
    ws.send(JSON.stringify({ type: 'RESUME', topic: 'orders', after: feed.lastSeq }));
  };
  ws.onmessage = (e) => {
    const message = feedMessage(conn, e.data);
    if (!message) return;
    if (message.type === 'ORDER_CREATED') {
      onOrderEvent(message);
    } else if (message.type === 'SUBSCRIBED') {
      // seq: the last one replayed; live events continue after it.
      if (Number.isSafeInteger(message.seq) && message.seq > feed.lastSeq) {
        feed.gaps++;
        renderCounts();
      }
      live(conn);
    } else if (message.type === 'ERROR') {
      console.warn('feed error:', message.error);
    }
  };
  ws.onclose = () => lost(conn);
}

// A feed message of the connection that is still the current one, parsed; null for a
// stale connection's message or text that is not JSON.
function feedMessage(conn, text) {
  if (feed.current !== conn) return null;
  try {
    return JSON.parse(text);
  } catch {
    console.warn('feed message is not JSON:', text);
    return null;
  }
}

function openEventSource(conn) {
  // The page reconnects by itself (EventSource's own retry would skip the backoff), so
  // the resume point goes in the URL rather than in Last-Event-ID.
  const es = new EventSource(`/sse/orders?after=${feed.lastSeq}`);
  conn.close = () => es.close();
  es.onopen = () => {
    if (feed.current === conn) live(conn);
  };
  es.onmessage = (e) => {
    const message = feedMessage(conn, e.data);
    if (message && message.type === 'ORDER_CREATED') onOrderEvent(message);
  };
  es.onerror = () => {
    es.close();
    lost(conn);
  };
}

// The hub through the official client. Its automatic reconnect keeps the connection
// object but not the server's side of it (a new connection id, no group), so every start
// and every reconnect subscribes again and catches up from the last seq shown. When the
// client gives up (it never does with this policy, but a refused start or a stop() ends
// it too), lost() starts over with a new connection after the page's backoff.
function openHub(conn) {
  const hub = new signalR.HubConnectionBuilder()
    .withUrl('/hubs/orders')
    .withAutomaticReconnect({
      // Asked before each attempt, the first one before onreconnecting runs.
      nextRetryDelayInMilliseconds: () => {
        conn.retryDelay = nextRetryDelay();
        if (feed.current === conn && feed.state === 'reconnecting') {
          setState('reconnecting', reconnectingText(conn.retryDelay));
        }
        return conn.retryDelay;
      },
    })
    .configureLogging(signalR.LogLevel.Warning)
    .build();
  conn.round = 0;       // bumped by each (re)connect: a catch-up of an older round stops
  conn.pending = null;  // live events held back while catching up; null once live
  conn.overlap = null;  // the live events the table already has: { after, upTo, seen }
  conn.close = () => {
    hub.stop().catch(() => {});  // stopping only fails if a start is failing anyway
  };
  hub.on('orderCreated', (event) => {
    if (feed.current !== conn) return;
    if (conn.pending && Number.isSafeInteger(event?.seq)) conn.pending.push(event);
    else if (!isOverlap(conn, event)) onOrderEvent(event);
  });
  hub.onreconnecting(() => {
    if (feed.current !== conn) return;
    feed.lostOnce = true;
    conn.round++;
    conn.pending = null;
    conn.overlap = null;
    clearTimeout(feed.stableTimer);
    setState('reconnecting', reconnectingText(conn.retryDelay));
  });
  hub.onreconnected(() => {
    if (feed.current !== conn) return;
    setState('connecting', `Connecting (${TRANSPORTS.hub})…`);
    catchUp(conn, hub);
  });
  hub.onclose(() => lost(conn));
  hub.start().then(() => {
    if (feed.current === conn) catchUp(conn, hub);
  }, () => lost(conn));
}

// Subscribe answers the last seq stored before the connection joined the topic: every
// later order comes live, so the history is read (GetRecent pages, oldest first) from the
// last seq shown up to that one. Live events wait meanwhile and follow in seq order; one
// the table already has is the expected overlap, not a duplicate: shown from the history,
// or, after a reconnect to a node that had not read as far as the one before (its answer
// is below the last seq shown), shown from the node before.
async function catchUp(conn, hub) {
  const round = ++conn.round;
  const current = () => feed.current === conn && conn.round === round;
  conn.pending = [];
  conn.overlap = null;
  let joinedAt;
  try {
    joinedAt = await hub.invoke('Subscribe', HUB_TOPIC);
    while (current() && feed.lastSeq < joinedAt) {
      const before = feed.lastSeq;
      const page = await hub.invoke('GetRecent', before);
      if (!current()) return;
      for (const event of page) onOrderEvent(event);
      if (feed.lastSeq === before) break;  // the history ends short of joinedAt: the next event counts the gap
    }
  } catch (err) {
    // A lost connection rejects what was pending; its onreconnecting already moved on. A
    // refusal on a connection that is still up starts over after the backoff.
    if (current() && hub.state === signalR.HubConnectionState.Connected) {
      console.warn('subscribing to the hub failed:', err);
      lost(conn);
    }
    return;
  }
  if (!current()) return;
  const held = conn.pending.sort((a, b) => a.seq - b.seq);
  conn.pending = null;
  conn.overlap = { after: joinedAt, upTo: feed.lastSeq, seen: new Set() };
  for (const event of held) {
    if (!isOverlap(conn, event)) onOrderEvent(event);
  }
  live(conn);
}

// Whether a live event is one of the connection's overlap (each seq once: a second copy is
// a duplicate).
function isOverlap(conn, event) {
  const o = conn.overlap;
  if (!o || !Number.isSafeInteger(event?.seq) || event.seq <= o.after || event.seq > o.upTo || o.seen.has(event.seq)) {
    return false;
  }
  o.seen.add(event.seq);
  return true;
}

function live(conn) {
  if (feed.state === 'live') return;
  if (feed.lostOnce) feed.reconnects++;
  setState('live', `Live (${TRANSPORTS[feed.transport]})`);
  renderCounts();
  clearTimeout(feed.stableTimer);
  feed.stableTimer = setTimeout(() => {
    if (feed.current === conn) feed.attempt = 0;
  }, STABLE_AFTER_MS);
}

// The connection failed or ended: try again after a random delay (nextRetryDelay).
function lost(conn) {
  if (feed.current !== conn) return;  // already replaced or closed on purpose
  feed.current = null;
  feed.lostOnce = true;
  conn.close();
  clearTimeout(feed.stableTimer);
  if (!navigator.onLine) {
    setState('offline', 'Offline: waiting for the network.');
    return;
  }
  const delay = nextRetryDelay();
  setState('reconnecting', reconnectingText(delay));
  feed.retryTimer = setTimeout(connect, delay);
}

// Random in [0, min(cap, base·2^n)), n the failed attempts since the last stable connection.
function nextRetryDelay() {
  const delay = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(feed.attempt, 16));
  feed.attempt++;
  return delay;
}

function reconnectingText(delay) {
  return `Connection lost. Reconnecting in ${Math.max(1, Math.ceil(delay / 1000))} s…`;
}

// Drops the current connection (or pending retry) and connects again at once.
function restart() {
  const conn = feed.current;
  feed.current = null;
  if (conn) conn.close();
  clearTimeout(feed.retryTimer);
  clearTimeout(feed.stableTimer);
  feed.attempt = 0;
  connect();
}

// ---- the transport picker -----------------------------------------------------------

function transportFromUrl() {
  const t = new URL(location.href).searchParams.get('transport');
  return Object.hasOwn(TRANSPORTS, t) ? t : 'ws';
}

function setupTransportPicker() {
  const form = el('transport-form');
  for (const input of form.elements.transport) input.checked = input.value === feed.transport;
  form.addEventListener('submit', (e) => e.preventDefault());
  form.addEventListener('change', (e) => {
    const t = e.target.value;
    if (!Object.hasOwn(TRANSPORTS, t) || t === feed.transport) return;
    feed.transport = t;
    const url = new URL(location.href);
    url.searchParams.set('transport', t);
    history.replaceState(null, '', url);
    renderCounts();
    restart();
  });
}

// ---- the order form -----------------------------------------------------------------

// The form field a server error names: "items[2].qty" belongs to items.
function fieldFor(name) {
  if (typeof name !== 'string') return null;
  return FIELDS.find((f) => name === f || name.startsWith(`${f}[`) || name.startsWith(`${f}.`) ||
    name.startsWith(`${f}/`)) ?? null;
}

function clearErrors() {
  for (const f of FIELDS) {
    const input = el(f);
    input.removeAttribute('aria-invalid');
    input.removeAttribute('aria-describedby');
    const message = el(`${f}-error`);
    message.textContent = '';
    message.hidden = true;
  }
  el('form-error').textContent = '';
  el('form-error').hidden = true;
}

function showFieldError(field, text) {
  const input = el(field);
  const message = el(`${field}-error`);
  message.textContent = text;
  message.hidden = false;
  input.setAttribute('aria-invalid', 'true');
  input.setAttribute('aria-describedby', message.id);
  input.focus();
}

function showFormError(text) {
  el('form-error').textContent = text;
  el('form-error').hidden = false;
}

async function submitOrder(e) {
  e.preventDefault();
  clearErrors();
  el('form-status').textContent = '';
  const totalText = el('total').value;
  const order = { customerId: el('customerId').value, total: totalText === '' ? null : Number(totalText) };
  const itemsText = el('items').value.trim();
  if (itemsText !== '') {
    try {
      order.items = JSON.parse(itemsText);
    } catch (err) {
      showFieldError('items', `Items must be JSON: ${err.message}`);
      return;
    }
  }
  const button = el('submit');
  button.disabled = true;
  el('form-status').textContent = 'Creating…';
  try {
    let res;
    try {
      res = await fetch('/api/orders', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(order),
      });
    } catch {
      el('form-status').textContent = '';
      showFormError('The server could not be reached; the order was not created.');
      return;
    }
    let body = null;
    try {
      body = await res.json();
    } catch {
      // not JSON: the status alone tells
    }
    el('form-status').textContent = '';
    if (res.status === 201 && body) {
      el('form-status').textContent = `Order ${body.orderId} created (seq ${body.seq}).`;
      return;
    }
    const text = body && typeof body.error === 'string' ? body.error : `The server answered ${res.status}.`;
    const field = res.status === 400 && body ? fieldFor(body.field) : null;
    if (field) showFieldError(field, text);
    else showFormError(text);
  } finally {
    button.disabled = false;
  }
}

// ---- start --------------------------------------------------------------------------

function start() {
  feed.transport = transportFromUrl();
  setupTransportPicker();
  el('order-form').addEventListener('submit', submitOrder);
  window.addEventListener('offline', () => {
    const conn = feed.current;
    feed.current = null;
    feed.lostOnce = true;
    if (conn) conn.close();
    clearTimeout(feed.retryTimer);
    clearTimeout(feed.stableTimer);
    setState('offline', 'Offline: waiting for the network.');
  });
  window.addEventListener('online', restart);
  setInterval(renderRate, 1000);
  renderCounts();
  connect();
}

start();
