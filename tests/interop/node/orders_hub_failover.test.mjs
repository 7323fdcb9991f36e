// OrderFlow's hub (/hubs/orders) on three wirehub nodes sharing one order log in a real
// redis-server, with the official client (@microsoft/signalr) on every transport and
// protocol behind a failover load balancer: every client connects through it to node A;
// orders are POSTed continuously to nodes B and C; A is SIGKILLed mid-stream. The
// clients' automatic reconnect lands on B by itself, and each one, resuming as the
// dashboard does (Subscribe, then GetRecent pages from the last seq it holds), ends with
// every stored order exactly once, in seq order, with no gap; B and C stay up.
//
// While A is down the balancer holds new connections until B has acknowledged a few
// orders, so every client has orders to page through on B (deterministically, with no
// sleep); everything else is waited for as a condition with a deadline.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { FailoverBalancer } from './failover_balancer.mjs';
import { COMBOS, HubConnectionState, buildConnection } from './hub_support.mjs';
import { startRedis } from './redis_server.mjs';
import { startServer, withDeadline } from './server.mjs';

const T = { timeout: 150_000 };
const WAIT_MS = 30_000;
const MAX_PAGE = 10;          // small, so a client's catch-up takes several GetRecent pages
const CLIENTS_PER_COMBO = 2;
const POSTERS = 4;            // concurrent POST loops, alternating between B and C
const LIVE_BEFORE_KILL = 20;  // orders each client has live from A before A dies
const POSTED_WHILE_DOWN = 5;  // orders B acknowledges while the clients cannot reach any node
const POSTED_AFTER = 20;      // orders posted once every client is live on B again
const RECONNECT_DELAYS = [0, 50, 100, 200, 500, 1000, 1000, 1000, 1000, 1000];

let postFailure = null;  // the first failed POST of the test's POST loops

// Resolves once predicate() holds, checked every 10 ms, or rejects after WAIT_MS (or as
// soon as a POST failed).
async function until(predicate, what) {
  await withDeadline((async () => {
    for (;;) {
      if (postFailure) throw postFailure;
      if (await predicate()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  })(), WAIT_MS, what);
}

// A hub client that keeps the orders as the dashboard (web/app.js) does: every start and
// every reconnect subscribes, pages the history with GetRecent from the last seq it holds
// up to Subscribe's answer, holding the live events back meanwhile; a live event it
// already holds (from the history, or from the node before when this one had read less)
// is the expected overlap, anything else at or below the last seq held is a duplicate and
// any jump a gap. Each connection ("round") also records what the
// server sent on it, to assert the server's side exactly.
class OrderClient {
  constructor(url, combo, name) {
    this.name = name;
    this.connection = buildConnection(url, { ...combo, reconnect: RECONNECT_DELAYS });
    this.orders = [];  // the events kept, in order
    this.lastSeq = 0;
    this.duplicates = 0;
    this.gaps = 0;
    this.rounds = [];  // per connection: { connectionId, joinedAt, live: [seq], history: [seq], invocations, overlapTo }
    this.round = null;
    this.pending = null;  // live events held back during a catch-up; null once live
    this.reconnecting = 0;
    this.reconnected = 0;
    this.errors = [];
    this.connection.on('orderCreated', (event) => {
      if (!this.round) {
        this.errors.push(`event ${event.seq} outside a connection`);
        return;
      }
      this.round.live.push(event.seq);
      if (this.pending) this.pending.push(event);
      else this.#deliver(this.round, event);
    });
    this.connection.onreconnecting(() => {
      this.reconnecting++;
      this.round = null;
      this.pending = null;
    });
    this.connection.onreconnected(() => {
      this.reconnected++;
      this.#catchUp();
    });
    this.connection.onclose((err) => this.errors.push(`closed: ${err}`));
  }

  async start() {
    await withDeadline(this.connection.start(), WAIT_MS, `${this.name} to start`);
    this.#catchUp();
  }

  // Live: the current connection has caught up.
  get live() {
    return this.round !== null && this.pending === null && this.round.overlapTo !== null;
  }

  async #catchUp() {
    const round = { connectionId: this.connection.connectionId, joinedAt: null, live: [], history: [], invocations: 0,
      overlapTo: null };
    this.round = round;
    this.rounds.push(round);
    this.pending = [];
    const invoke = (...args) => {
      round.invocations++;
      return this.connection.invoke(...args);
    };
    try {
      round.joinedAt = await invoke('Subscribe', 'orders');
      while (this.round === round && this.lastSeq < round.joinedAt) {
        const before = this.lastSeq;
        const page = await invoke('GetRecent', before);
        if (this.round !== round) return;
        for (const event of page) {
          round.history.push(event.seq);
          this.#keep(event);
        }
        if (this.lastSeq === before) break;
      }
    } catch (err) {
      // A connection lost meanwhile rejects what was pending; its reconnect starts over.
      if (this.round === round && this.connection.state === HubConnectionState.Connected) {
        this.errors.push(`catch-up: ${err}`);
      }
      return;
    }
    if (this.round !== round) return;
    const held = this.pending.sort((a, b) => a.seq - b.seq);
    this.pending = null;
    round.overlapTo = this.lastSeq;
    for (const event of held) this.#deliver(round, event);
  }

  // A live event: the ones after Subscribe's answer up to the end of the history read are
  // the overlap (kept already, from the history or from the node before).
  #deliver(round, event) {
    if (event.seq > round.joinedAt && event.seq <= round.overlapTo) return;
    this.#keep(event);
  }

  #keep(event) {
    if (event.seq <= this.lastSeq) {
      this.duplicates++;
      return;
    }
    if (event.seq !== this.lastSeq + 1) this.gaps++;
    this.orders.push(event);
    this.lastSeq = event.seq;
  }
}

const range = (from, count) => Array.from({ length: count }, (_, i) => from + i);

async function metricSum(node, name, labelPart = '') {
  const res = await fetch(`http://127.0.0.1:${node.port}/metrics`);
  assert.equal(res.status, 200);
  let sum = 0;
  let found = false;
  for (const line of (await res.text()).split('\n')) {
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? '').includes(labelPart)) {
      sum += Number(m[3]);
      found = true;
    }
  }
  assert.ok(found, `${name}${labelPart} on port ${node.port}`);
  return sum;
}

async function healthz(node) {
  try {
    return (await fetch(`http://127.0.0.1:${node.port}/healthz`)).status;
  } catch {
    return 0;
  }
}

// Every order a node stores, oldest first, paged through GET /api/orders.
async function storedOrders(node) {
  const all = [];
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${node.port}/api/orders?after=${all.at(-1)?.seq ?? 0}&limit=${MAX_PAGE}`);
    assert.equal(res.status, 200);
    const { orders } = await res.json();
    if (orders.length === 0) return all;
    all.push(...orders);
  }
}

let redis;
const nodes = [];
const dataDirs = [];
before(async () => {
  redis = await startRedis();
  for (let i = 0; i < 3; i++) {
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'wirehub-failover-data-'));
    dataDirs.push(data);
    nodes.push(await startServer({
      config: { orderflow: { max_page: MAX_PAGE, default_page: MAX_PAGE } },
      args: ['--redis', redis.url, '--data', data],
    }));
  }
  for (const n of nodes) await until(async () => (await metricSum(n, 'wirehub_orderflow_log_up')) === 1, 'the order log to be up');
});
after(async () => {
  for (const n of nodes) await n.stop();
  await redis?.stop();
  for (const d of dataDirs) fs.rmSync(d, { recursive: true, force: true });
});

test('hub clients of a SIGKILLed node resume on another node with every order once, in seq order, no gap', T, async (t) => {
  const [a, b, c] = nodes;
  const balancer = await FailoverBalancer.start(nodes.map((n) => n.port));
  t.after(() => balancer.close());

  const clients = [];
  for (const combo of COMBOS) {
    for (let i = 0; i < CLIENTS_PER_COMBO; i++) {
      clients.push(new OrderClient(balancer.url('/hubs/orders'), combo, `${combo.transport}/${combo.protocol} #${i}`));
    }
  }
  t.after(() => Promise.all(clients.map((cl) => cl.connection.stop())));
  await Promise.all(clients.map((cl) => cl.start()));
  await until(() => clients.every((cl) => cl.live), 'every client to be subscribed on A');
  assert.deepEqual([...balancer.routed.values()].slice(1), [0, 0], 'A takes every connection while it lives');
  assert.equal(await metricSum(a, 'wirehub_hub_invocations_total', 'endpoint="/hubs/orders"'),
    clients.reduce((n, cl) => n + cl.rounds[0].invocations, 0), 'the clients subscribed on A');

  // POST loops: each alternates between B and C until told to stop.
  const acked = [];  // { seq, orderId, node }
  let posting = true;
  const post = async (node, customerId) => {
    const res = await fetch(`http://127.0.0.1:${node.port}/api/orders`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ customerId, total: 1.5 }),
    });
    const text = await res.text();
    assert.equal(res.status, 201, text);
    const { seq, orderId } = JSON.parse(text);
    acked.push({ seq, orderId, node });
  };
  const posters = Promise.all(range(0, POSTERS).map(async (w) => {
    try {
      for (let i = 0; posting; i++) await post((w + i) % 2 === 0 ? b : c, `failover-${w}`);
    } catch (err) {
      postFailure ??= err;
      posting = false;
    }
  }));
  t.after(() => { posting = false; return posters; });

  await until(() => clients.every((cl) => cl.orders.length >= LIVE_BEFORE_KILL), 'every client to get orders live on A');
  balancer.hold();
  a.child.kill('SIGKILL');
  assert.equal(await a.waitExit(10_000), 'SIGKILL');
  const fromB = () => acked.filter((o) => o.node === b).length;
  const fromBAtKill = fromB();
  // Orders acknowledged by B after A died: seqs after everything A could have delivered,
  // and in B's store before any client subscribes there.
  // (Each client's reconnect attempt opens at least one connection, its negotiate request.)
  await until(() => clients.every((cl) => cl.reconnecting === 1) && balancer.held.length >= clients.length &&
    fromB() >= fromBAtKill + POSTED_WHILE_DOWN, 'every client to try to reconnect and B to acknowledge more orders');
  const lastSeqAtRelease = Math.max(...clients.map((cl) => cl.lastSeq));
  balancer.release();

  await until(() => clients.every((cl) => cl.reconnected === 1 && cl.live), 'every client to reconnect and catch up');
  const ackedAtLive = acked.length;
  await until(() => acked.length >= ackedAtLive + POSTED_AFTER, 'more orders after the clients are back');
  posting = false;
  await posters;
  assert.equal(postFailure, null);

  const stored = await storedOrders(b);
  assert.deepEqual(stored.map((o) => o.seq), range(1, stored.length), 'the log numbers the orders without holes');
  assert.deepEqual([...acked].sort((x, y) => x.seq - y.seq).map((o) => [o.seq, o.orderId]),
    stored.map((o) => [o.seq, o.orderId]), 'every acknowledged order is stored once');
  await until(async () => (await storedOrders(c)).length === stored.length, 'C to hold every order');
  assert.deepEqual(await storedOrders(c), stored, 'C stores what B stores');
  await until(() => clients.every((cl) => cl.lastSeq === stored.length), 'every client to hold the last order');

  for (const cl of clients) {
    // Asked after the last order is held: any later delivery on this connection is in first.
    assert.deepEqual(await cl.connection.invoke('GetRecent', stored.length), [], cl.name);
    cl.rounds[1].invocations++;
    assert.deepEqual(cl.errors, [], cl.name);
    assert.deepEqual(cl.orders.map((e) => [e.seq, e.orderId]), stored.map((o) => [o.seq, o.orderId]),
      `${cl.name}: every order once, in seq order`);
    assert.equal(cl.duplicates, 0, `${cl.name}: duplicates`);
    assert.equal(cl.gaps, 0, `${cl.name}: gaps`);
    assert.equal(cl.rounds.length, 2, `${cl.name}: one connection on A, one after the loss`);
    const [onA, onB] = cl.rounds;
    assert.notEqual(onB.connectionId, onA.connectionId, `${cl.name}: a new connection`);
    // What the server sent on each connection: every seq after Subscribe's answer once, in order.
    for (const r of cl.rounds) assert.deepEqual(r.live, range(r.joinedAt + 1, r.live.length), `${cl.name}: live on ${r.connectionId}`);
    assert.equal(onB.live.at(-1), stored.length, `${cl.name}: live on B up to the last order`);
    assert.ok(onB.joinedAt > onA.live.at(-1), `${cl.name}: B had orders A never delivered (${onB.joinedAt} > ${onA.live.at(-1)})`);
    assert.ok(onB.history.length > 0 && onB.history[0] === onA.live.at(-1) + 1,
      `${cl.name}: paged from where A stopped (${onB.history[0]} after ${onA.live.at(-1)})`);
  }
  assert.ok(lastSeqAtRelease < stored.length);
  t.diagnostic(`${stored.length} orders; A delivered up to ${Math.min(...clients.map((cl) => cl.rounds[0].live.at(-1)))}..` +
    `${lastSeqAtRelease}; paged on B: ${clients.map((cl) => cl.rounds[1].history.length).join(' ')}`);
  // Every connection went to B once A was gone: B answered every hub call since.
  assert.equal(balancer.routed.get(c.port), 0);
  assert.equal(await metricSum(b, 'wirehub_hub_invocations_total', 'endpoint="/hubs/orders"'),
    clients.reduce((n, cl) => n + cl.rounds[1].invocations, 0), 'the clients subscribed on B');
  for (const n of [b, c]) {
    assert.equal(n.child.exitCode, null, 'B and C stayed up');
    assert.equal(await healthz(n), 200);
  }
});
