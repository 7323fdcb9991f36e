// OrderFlow's hub, /hubs/orders, with the official client (@microsoft/signalr, and its
// MessagePack protocol): Subscribe answers the last seq stored; 500 orders posted
// concurrently reach 20 subscribers on every transport and protocol once each, in seq
// order, as the same events the raw WebSocket feed carries; GetRecent pages the history
// oldest first; an unknown topic and a negative afterSeq get their exact HubException
// texts; Unsubscribe stops the deliveries and a new Subscribe resumes them.
//
// "Nothing more arrives" is proven without waiting: every hub method that answers from
// the store thread (Subscribe, GetRecent) is queued there after the publishes of the
// orders already acknowledged, and its answer reaches the connection after whatever
// those publishes sent it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as signalR from '@microsoft/signalr';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import WebSocket from 'ws';
import { startServer, withDeadline } from './server.mjs';

const T = { timeout: 120_000 };
const WAIT_MS = 30_000;
const MAX_PAGE = 50;  // small, so paging takes a few pages

let server;
before(async () => {
  server = await startServer({ config: { orderflow: { max_page: MAX_PAGE, default_page: MAX_PAGE } } });
});
after(async () => { await server?.stop(); });

const http = (p) => `http://127.0.0.1:${server.port}${p}`;
const { WebSockets, ServerSentEvents, LongPolling } = signalR.HttpTransportType;
const TRANSPORT_NAMES = { [WebSockets]: 'WebSockets', [ServerSentEvents]: 'ServerSentEvents', [LongPolling]: 'LongPolling' };

async function postOrder(customerId, total) {
  const res = await fetch(http('/api/orders'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ customerId, total }),
  });
  const text = await res.text();
  assert.equal(res.status, 201, text);
  return JSON.parse(text);
}

// Posts `count` orders from `concurrency` workers at once; resolves to their seqs, sorted.
async function postConcurrently(count, concurrency, prefix) {
  const seqs = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      seqs.push((await postOrder(`${prefix}-${i % concurrency}`, i + 0.5)).seq);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return seqs.sort((a, b) => a - b);
}

async function lastStoredSeq() {
  const res = await fetch(http('/api/orders?tail=1'));
  assert.equal(res.status, 200);
  return (await res.json()).lastSeq;
}

// What a client received, in order; until(predicate) resolves once predicate(items)
// holds, checked on every arrival.
class Received {
  items = [];
  #waiters = [];

  add(item) {
    this.items.push(item);
    for (const w of this.#waiters.filter((x) => x.predicate(this.items))) {
      this.#waiters.splice(this.#waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  until(predicate, what) {
    return withDeadline(predicate(this.items) ? Promise.resolve()
      : new Promise((resolve) => this.#waiters.push({ predicate, resolve })), WAIT_MS, what);
  }
}

// A started hub connection whose orderCreated events land in `events`.
async function hubClient(t, { transport = WebSockets, msgpack = false } = {}) {
  const builder = new signalR.HubConnectionBuilder()
    .withUrl(http('/hubs/orders'), { transport })
    .configureLogging(signalR.LogLevel.Error);
  if (msgpack) builder.withHubProtocol(new MessagePackHubProtocol());
  const connection = builder.build();
  const events = new Received();
  connection.on('orderCreated', (event) => events.add(event));
  await withDeadline(connection.start(), WAIT_MS, `hub start over ${TRANSPORT_NAMES[transport]}`);
  t.after(() => connection.stop());
  return { connection, events, name: `${TRANSPORT_NAMES[transport]}/${msgpack ? 'messagepack' : 'json'}` };
}

// A raw-feed WebSocket subscribed to orders; its events land in `events`.
async function rawFeed(t) {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws/orders/feed`);
  t.after(() => ws.close());
  const events = new Received();
  const subscribed = new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'SUBSCRIBED') resolve(m);
      else events.add(m);
    });
  });
  await withDeadline(new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }),
    WAIT_MS, 'raw feed open');
  ws.send(JSON.stringify({ type: 'SUBSCRIBE', topic: 'orders' }));
  await withDeadline(subscribed, WAIT_MS, 'SUBSCRIBED');
  return events;
}

const seqsOf = (events) => events.map((e) => e.seq);

test('Subscribe answers the last seq stored, in JSON and MessagePack; later orders come live', T, async (t) => {
  await postConcurrently(3, 3, 'before');
  const last = await lastStoredSeq();
  const json = await hubClient(t);
  const msgpack = await hubClient(t, { msgpack: true });
  assert.equal(await json.connection.invoke('Subscribe', 'orders'), last);
  assert.equal(await msgpack.connection.invoke('Subscribe', 'orders'), last);

  const order = await postOrder('after-subscribe', 12.5);
  assert.equal(order.seq, last + 1);
  for (const c of [json, msgpack]) {
    await c.events.until((l) => l.length >= 1, `the order on ${c.name}`);
    assert.equal(await c.connection.invoke('Subscribe', 'orders'), order.seq, `${c.name}: subscribing again`);
    assert.deepEqual(c.events.items, [{
      type: 'ORDER_CREATED', seq: order.seq, orderId: order.orderId, customer: 'after-subscribe', total: 12.5,
      timestamp: c.events.items[0].timestamp,
    }], c.name);
    assert.match(c.events.items[0].timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  }
});

test('500 orders posted concurrently reach 20 hub subscribers on every transport and protocol once each, in seq order, as the raw feed has them', T, async (t) => {
  const kinds = [
    { transport: WebSockets }, { transport: WebSockets, msgpack: true }, { transport: ServerSentEvents },
    { transport: LongPolling }, { transport: LongPolling, msgpack: true },
  ];
  const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => hubClient(t, kinds[i % kinds.length])));
  const joinedAt = await Promise.all(clients.map((c) => c.connection.invoke('Subscribe', 'orders')));
  const raw = await rawFeed(t);
  const first = Math.max(...joinedAt);

  const acked = await postConcurrently(500, 25, 'burst');
  assert.deepEqual(acked, Array.from({ length: 500 }, (_, i) => first + 1 + i), 'the store numbers orders without holes');
  await raw.until((l) => l.length >= 500, '500 events on the raw feed');
  assert.deepEqual(seqsOf(raw.items), acked);

  await Promise.all(clients.map(async (c, i) => {
    assert.equal(joinedAt[i], first, `${c.name} #${i} joined after the same last seq`);
    await c.events.until((l) => l.length >= 500, `500 events on ${c.name} #${i}`);
    // Asked after every acknowledged order: any extra delivery would be in before the answer.
    assert.deepEqual(await c.connection.invoke('GetRecent', acked.at(-1)), []);
    assert.equal(c.events.items.length, 500, `${c.name} #${i}: each order once`);
    assert.deepEqual(c.events.items, raw.items, `${c.name} #${i}: the raw feed's events, in its order`);
  }));
  assert.equal(new Set(clients.map((c) => c.name)).size, kinds.length);
});

test('GetRecent pages the history after afterSeq, oldest first, at most max_page events a page', T, async (t) => {
  const c = await hubClient(t, { transport: LongPolling, msgpack: true });
  const from = await c.connection.invoke('Subscribe', 'orders');
  const acked = await postConcurrently(2 * MAX_PAGE + 20, 10, 'paged');
  await c.events.until((l) => l.length >= acked.length, 'the live events');

  const sizes = [];
  const history = [];
  for (let after = from; ;) {
    const page = await c.connection.invoke('GetRecent', after);
    sizes.push(page.length);
    if (page.length === 0) break;
    history.push(...page);
    after = page.at(-1).seq;
  }
  assert.deepEqual(sizes, [MAX_PAGE, MAX_PAGE, 20, 0]);
  assert.deepEqual(history, c.events.items, 'the history holds the live events');

  const oldest = await c.connection.invoke('GetRecent', 0);
  assert.deepEqual(seqsOf(oldest), Array.from({ length: MAX_PAGE }, (_, i) => i + 1));
  const middle = await c.connection.invoke('GetRecent', acked[10]);
  assert.deepEqual(middle, history.slice(11, 11 + MAX_PAGE));
  await assert.rejects(c.connection.invoke('GetRecent', -1), {
    message: 'An unexpected error occurred invoking \'GetRecent\' on the server. HubException: afterSeq must be >= 0',
  });
});

test('Subscribe and Unsubscribe refuse an unknown topic with its exact HubException text', T, async (t) => {
  for (const msgpack of [false, true]) {
    const c = await hubClient(t, { msgpack });
    for (const method of ['Subscribe', 'Unsubscribe']) {
      await assert.rejects(c.connection.invoke(method, 'trades'), {
        message: `An unexpected error occurred invoking '${method}' on the server. ` +
          'HubException: unknown topic "trades" (the feed has "orders")',
      }, `${method} over ${c.name}`);
    }
    // A long name is cut to its first 64 characters in the answer.
    await assert.rejects(c.connection.invoke('Subscribe', `${'x'.repeat(64)}tail`), {
      message: 'An unexpected error occurred invoking \'Subscribe\' on the server. ' +
        `HubException: unknown topic "${'x'.repeat(64)}" (the feed has "orders")`,
    });
    // Refused, not subscribed; and the connection still works.
    const order = await postOrder('unknown-topic', 1);
    assert.equal(await c.connection.invoke('Subscribe', 'orders'), order.seq);
    assert.deepEqual(c.events.items, [], `${c.name}: nothing delivered for a refused Subscribe`);
  }
});

test('Unsubscribe stops the deliveries; subscribing again resumes them after its answer', T, async (t) => {
  const c = await hubClient(t);
  const watcher = await hubClient(t, { transport: ServerSentEvents });
  await c.connection.invoke('Subscribe', 'orders');
  await watcher.connection.invoke('Subscribe', 'orders');

  const a = await postOrder('unsubscribe-a', 1);
  await c.events.until((l) => l.length >= 1, 'order a');
  assert.equal(await c.connection.invoke('Unsubscribe', 'orders'), undefined);

  const b = await postOrder('unsubscribe-b', 2);
  await watcher.events.until((l) => l.some((e) => e.seq === b.seq), 'order b on the watcher');
  // A store-thread round trip after b's publish: b would be in before this answer.
  assert.deepEqual(await c.connection.invoke('GetRecent', b.seq), []);
  assert.deepEqual(seqsOf(c.events.items), [a.seq]);

  assert.equal(await c.connection.invoke('Subscribe', 'orders'), b.seq);
  const d = await postOrder('unsubscribe-d', 3);
  await c.events.until((l) => l.length >= 2, 'order d after subscribing again');
  assert.deepEqual(await c.connection.invoke('GetRecent', d.seq), []);
  assert.deepEqual(seqsOf(c.events.items), [a.seq, d.seq]);
  // Unsubscribing twice is no error; a void method's completion carries no result.
  assert.equal(await c.connection.invoke('Unsubscribe', 'orders'), undefined);
  assert.equal(await c.connection.invoke('Unsubscribe', 'orders'), undefined);
});
