// /ws/orders and /ws/broadcast with several `ws` clients.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openClient, startServer } from './server.mjs';

const T = { timeout: 30_000 };

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('/ws/orders replies "Echo: <message>" to each text message', T, async () => {
  const ws = await openClient(server, '/ws/orders');
  for (const text of ['BUY 100 ACME @ 12.5', '', 'Grüße 😀']) {
    ws.send(text);
    const reply = await ws.inbox.next();
    assert.equal(reply.isBinary, false);
    assert.equal(reply.data.toString('utf8'), `Echo: ${text}`);
  }
  ws.close();
});

test('/ws/broadcast relays every message to every client, sender included, in per-sender order', T, async () => {
  const CLIENTS = 3;
  const PER_CLIENT = 50;
  const clients = [];
  for (let c = 0; c < CLIENTS; c++) clients.push(await openClient(server, '/ws/broadcast'));

  for (let i = 0; i < PER_CLIENT; i++) {
    clients.forEach((ws, c) => ws.send(`${c}:${i}`));
  }

  for (const [r, ws] of clients.entries()) {
    const nextFrom = new Array(CLIENTS).fill(0);
    for (let n = 0; n < CLIENTS * PER_CLIENT; n++) {
      const { data, isBinary } = await ws.inbox.next();
      assert.equal(isBinary, false);
      const [sender, seq] = data.toString().split(':').map(Number);
      assert.equal(seq, nextFrom[sender], `client ${r}: from ${sender} got ${seq}, expected ${nextFrom[sender]}`);
      nextFrom[sender] += 1;
    }
    assert.deepEqual(nextFrom, new Array(CLIENTS).fill(PER_CLIENT));
  }

  // Nothing beyond what was sent: a final marker is the next message everyone sees.
  clients[0].send('end');
  for (const ws of clients) assert.equal((await ws.inbox.next()).data.toString(), 'end');
  for (const ws of clients) ws.close();
});

test('/ws/broadcast keeps binary messages binary', T, async () => {
  const a = await openClient(server, '/ws/broadcast');
  const b = await openClient(server, '/ws/broadcast');
  const payload = Buffer.from([0, 1, 2, 254, 255]);
  a.send(payload);
  for (const ws of [a, b]) {
    const { data, isBinary } = await ws.inbox.next();
    assert.equal(isBinary, true);
    assert.ok(data.equals(payload));
  }
  a.close();
  b.close();
});
