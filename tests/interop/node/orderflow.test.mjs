// OrderFlow end to end with independent clients: 1,000 orders posted concurrently while
// 200 subscribers on mixed transports (Node `ws` on the raw feed, the `eventsource`
// package on SSE, some resuming and some live) each receive all of them, in seq order,
// exactly once; and an EventSource that resumes by itself across a server crash.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { startServer, withDeadline } from './server.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const http = (p) => `http://127.0.0.1:${server.port}${p}`;

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

// A subscriber that records every seq it gets and resolves `done` at `want` events.
function collector(want) {
  const c = { seqs: [], errors: [] };
  c.done = new Promise((resolve) => { c.resolve = resolve; });
  c.add = (event) => {
    if (event.type !== 'ORDER_CREATED') return c.errors.push(`unexpected ${JSON.stringify(event)}`);
    c.seqs.push(event.seq);
    if (c.seqs.length === want) c.resolve();
  };
  return c;
}

// A raw-feed client; `first` is its command (SUBSCRIBE or RESUME). Resolves once the
// server confirmed the subscription.
async function wsSubscriber(first, want) {
  const c = collector(want);
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws/orders/feed`);
  c.close = () => ws.close();
  const subscribed = new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === 'SUBSCRIBED') return resolve(m);
      c.add(m);
    });
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  ws.send(JSON.stringify(first));
  c.subscribed = await withDeadline(subscribed, 10_000, 'SUBSCRIBED');
  return c;
}

// An SSE client (the eventsource package); `query` picks live or resume.
async function sseSubscriber(query, want) {
  const c = collector(want);
  const es = new EventSource(http(`/sse/orders${query}`));
  c.close = () => es.close();
  c.ids = [];
  es.onmessage = (e) => {
    c.ids.push(Number(e.lastEventId));
    c.add(JSON.parse(e.data));
  };
  await withDeadline(new Promise((resolve, reject) => {
    es.onopen = resolve;
    es.onerror = (err) => reject(new Error(`EventSource error: ${err.message ?? err.type}`));
  }), 10_000, 'EventSource open');
  es.onerror = (err) => c.errors.push(`EventSource error: ${err.message ?? err.type}`);
  return c;
}

test('1,000 concurrent orders reach 200 subscribers on WebSocket and SSE, each in seq order, once',
  { timeout: 120_000 }, async () => {
    const ORDERS = 1000;
    const warmup = await postOrder('warm-up', 1);  // so resumers have history to replay
    const start = warmup.seq;
    const subs = [];
    for (let i = 0; i < 200; i++) {
      const kind = i % 4;
      // Live subscribers get the 1,000; resumers from the warm-up's seq - 1 get it too.
      if (kind === 0) subs.push(await wsSubscriber({ type: 'SUBSCRIBE', topic: 'orders' }, ORDERS));
      else if (kind === 1) subs.push(await wsSubscriber({ type: 'RESUME', topic: 'orders', after: start - 1 }, ORDERS + 1));
      else if (kind === 2) subs.push(await sseSubscriber('', ORDERS));
      else subs.push(await sseSubscriber(`?after=${start - 1}`, ORDERS + 1));
    }
    // 1,000 POSTs, 50 in flight at a time.
    const acked = [];
    let next = 0;
    await Promise.all(Array.from({ length: 50 }, async () => {
      while (next < ORDERS) {
        const n = next++;
        acked.push((await postOrder(`load-${n}`, n)).seq);
      }
    }));
    acked.sort((a, b) => a - b);
    assert.equal(new Set(acked).size, ORDERS);
    await withDeadline(Promise.all(subs.map((s) => s.done)), 60_000, 'every subscriber to get every order');
    const expectedLive = acked;
    const expectedResumed = [start, ...acked];
    subs.forEach((s, i) => {
      assert.deepEqual(s.errors, [], `subscriber ${i}`);
      const resumed = i % 4 === 1 || i % 4 === 3;
      assert.deepEqual(s.seqs, resumed ? expectedResumed : expectedLive, `subscriber ${i} (kind ${i % 4})`);
      if (s.ids) assert.deepEqual(s.ids, s.seqs, `subscriber ${i}: SSE ids are the seqs`);
      if (i % 4 === 0) assert.equal(s.subscribed.seq, start);
    });
    for (const s of subs) s.close();
    // The counters moved with what happened.
    const metrics = await (await fetch(http('/metrics'))).text();
    const created = Number(/^wirehub_orders_created_total (\d+)$/m.exec(metrics)?.[1]);
    assert.equal(created, ORDERS + 1);
  });

// The eventsource package reconnects by itself and sends Last-Event-ID; the server must
// answer that from the store after a crash: every order once, in order, none missing.
test('EventSource resumes with Last-Event-ID across a SIGKILL and restart', { timeout: 60_000 }, async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wirehub-sse-resume-'));
  let own = await startServer({ args: ['--data', dataDir] });
  const port = own.port;
  const url = (p) => `http://127.0.0.1:${port}${p}`;
  const post = async (n) => {
    const res = await fetch(url('/api/orders'), {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ customerId: `r${n}`, total: n }),
    });
    assert.equal(res.status, 201);
    return (await res.json()).seq;
  };
  try {
    const es = new EventSource(url('/sse/orders'));
    const seen = [];
    const lastIds = [];
    let waiter = null;
    es.onmessage = (e) => {
      seen.push(JSON.parse(e.data).seq);
      lastIds.push(e.lastEventId);
      if (waiter && seen.length >= waiter.n) waiter.resolve();
    };
    const until = (n, what) => (seen.length >= n ? Promise.resolve()
      : withDeadline(new Promise((resolve) => { waiter = { n, resolve }; }), 20_000, what));
    await withDeadline(new Promise((resolve) => { es.onopen = resolve; }), 10_000, 'EventSource open');

    const acked = [];
    for (let i = 0; i < 5; i++) acked.push(await post(i));
    await until(5, 'the first five events');

    own.child.kill('SIGKILL');
    await own.exited;
    own = await startServer({ args: ['--data', dataDir], port });
    // Posted before the client is back: it can only get these from the store.
    for (let i = 5; i < 10; i++) acked.push(await post(i));
    await until(10, 'the events after the restart');
    for (let i = 10; i < 13; i++) acked.push(await post(i));
    await until(13, 'live events after the resume');
    es.close();
    assert.deepEqual(seen, acked, 'every order once, in seq order');
    assert.deepEqual(lastIds, acked.map(String));
  } finally {
    await own.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
