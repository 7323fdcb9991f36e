// Topic history across a node's death, with real clients: a WHATWG EventSource (the
// `eventsource` package) and a `ws` WebSocket client, both through a failover balancer in
// front of three wirehub nodes sharing a real redis-server. Messages are POSTed to
// /api/topics/t on C without pause; A is SIGKILLed while both clients are on it.
//
// Asserted: the EventSource comes back by itself (Last-Event-ID, its own reconnect) and
// the WebSocket client resumes from the last position it saw; each then has every message
// the POSTs acknowledged, numbered 1..N without a gap or a repeat, in publish order; the
// only reset either saw is the one that told it its starting position; both are on B.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { FailoverBalancer } from './failover_balancer.mjs';
import { startRedis } from './redis_server.mjs';
import { startServer, withDeadline } from './server.mjs';

const T = { timeout: 120_000 };
const WAIT_MS = 30_000;
const LIVE_BEFORE_KILL = 20;
const AFTER_KILL = 40;  // messages each client must get after A died

async function until(predicate, what) {
  await withDeadline((async () => {
    while (!(await predicate())) await new Promise((r) => setTimeout(r, 10));
  })(), WAIT_MS, what);
}

async function backplaneUp(node) {
  const res = await fetch(`http://127.0.0.1:${node.port}/readyz`);
  return (await res.text()).includes('backplane: redis up');
}

// A WebSocket client of /ws/topics that keeps the messages it got and, when its
// connection drops, opens a new one and resumes from the last position it holds.
class ResumingClient {
  constructor(url) {
    this.url = url;
    this.messages = [];  // numbered messages, in arrival order
    this.resets = [];
    this.position = '';
    this.connections = 0;
    this.stopped = false;
    this.#open();
  }

  #open() {
    this.connections++;
    const ws = new WebSocket(this.url, { perMessageDeflate: false });
    this.ws = ws;
    ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', topic: 't', position: this.position })));
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.reset) this.resets.push(m);
      else this.messages.push(m);
      this.position = m.position;
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      if (!this.stopped) setTimeout(() => this.#open(), 50);
    });
  }

  stop() {
    this.stopped = true;
    this.ws.terminate();
  }
}

let redis;
const nodes = [];
before(async () => {
  redis = await startRedis();
  // History deep enough for what is published while the EventSource waits its retry (3 s).
  for (let i = 0; i < 3; i++) {
    nodes.push(await startServer({ config: { topics: { history_messages: 100_000 } }, args: ['--redis', redis.url] }));
  }
  await until(async () => (await Promise.all(nodes.map(backplaneUp))).every(Boolean), 'every backplane up');
});
after(async () => {
  for (const n of nodes) await n.stop();
  await redis?.stop();
});

test('an EventSource and a WebSocket client of a SIGKILLed node resume on another with no gap', T, async (t) => {
  const [a, b, c] = nodes;
  const balancer = await FailoverBalancer.start(nodes.map((n) => n.port));
  t.after(() => balancer.close());

  const es = new EventSource(balancer.url('/sse/topics?topic=t'));
  t.after(() => es.close());
  const events = [];  // { id, data } of numbered events
  const esResets = [];
  es.addEventListener('message', (e) => events.push({ id: e.lastEventId, data: e.data }));
  es.addEventListener('reset', (e) => esResets.push({ id: e.lastEventId, data: JSON.parse(e.data) }));
  const ws = new ResumingClient(`ws://127.0.0.1:${balancer.port}/ws/topics`);
  t.after(() => ws.stop());
  await until(() => esResets.length === 1 && ws.resets.length === 1, 'both clients to learn their starting position');
  assert.deepEqual([...balancer.routed.values()].slice(1), [0, 0], 'A takes every connection while it lives');

  const acked = [];
  let posting = true;
  let postFailure = null;
  const poster = (async () => {
    try {
      for (let i = 0; posting; i++) {
        const res = await fetch(`http://127.0.0.1:${c.port}/api/topics/t`, { method: 'POST', body: `m${i}` });
        assert.equal(res.status, 202, await res.text());
        acked.push(`m${i}`);
      }
    } catch (err) {
      postFailure = err;
    }
  })();
  t.after(() => { posting = false; return poster; });

  await until(() => events.length >= LIVE_BEFORE_KILL && ws.messages.length >= LIVE_BEFORE_KILL,
    'both clients to get messages live on A');
  a.child.kill('SIGKILL');
  assert.equal(await a.waitExit(10_000), 'SIGKILL');
  const atKill = acked.length;
  await until(() => events.length >= atKill + AFTER_KILL && ws.messages.length >= atKill + AFTER_KILL,
    'both clients to catch up on another node and go on');
  posting = false;
  await poster;
  assert.equal(postFailure, null);
  await until(() => events.length === acked.length && ws.messages.length === acked.length,
    'every acknowledged message at both clients').catch((err) => {
    throw new Error(`${err.message}: acknowledged ${acked.length}, EventSource ${events.length}, WebSocket ` +
      `${ws.messages.length} (resets ${JSON.stringify(esResets)}, ${ws.resets.length}, last event ${JSON.stringify(events.at(-1))})`);
  });

  // Nothing was numbered when they subscribed: their first position is of no epoch.
  assert.equal(esResets[0].id, '0000000000000000-0');
  const epoch = events[0].id.split('-')[0];
  assert.deepEqual(events.map((e) => e.data), acked, 'the EventSource: every message once, in order');
  assert.deepEqual(events.map((e) => e.id), acked.map((_, i) => `${epoch}-${i + 1}`), 'its ids: 1..N, one epoch');
  assert.deepEqual(ws.messages.map((m) => m.data), acked, 'the WebSocket client: every message once, in order');
  assert.deepEqual(ws.messages.map((m) => m.seq), acked.map((_, i) => i + 1));
  assert.equal(esResets.length, 1, 'no reset after the failover (EventSource)');
  assert.equal(ws.resets.length, 1, 'no reset after the failover (WebSocket)');
  assert.equal(ws.connections, 2, 'the WebSocket client reconnected once');
  assert.equal(balancer.routed.get(b.port), 2, 'both came back on B');
  assert.equal(balancer.routed.get(c.port), 0);
});
