// Ping/Pong in both directions and the closing handshake, with the `ws` client.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { closedWithin, openClient, startServer, withDeadline } from './server.mjs';

const T = { timeout: 20_000 };

describe('default server', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server?.stop(); });

  for (const payload of [Buffer.alloc(0), Buffer.from('are you there?'), Buffer.alloc(125, 0xab)]) {
    test(`client ping with ${payload.length}-byte payload gets a pong with the same payload`, T, async () => {
      const ws = await openClient(server, '/ws/echo');
      ws.ping(payload);
      const [data] = await withDeadline(once(ws, 'pong'), 5000, 'pong');
      assert.ok(data.equals(payload), `pong payload ${data.toString('hex')}`);
      ws.close();
    });
  }

  for (const code of [1000, 3000, 4999]) {
    test(`client close ${code} with a reason is answered with ${code}`, T, async () => {
      const ws = await openClient(server, '/ws/echo');
      ws.close(code, `closing with ${code} ✓`);
      const { code: answered } = await closedWithin(ws);
      assert.equal(answered, code);
    });
  }

  test('close after traffic on every endpoint', T, async () => {
    for (const path of ['/ws/echo', '/ws/orders', '/ws/broadcast']) {
      const ws = await openClient(server, path);
      ws.send('hi');
      await ws.inbox.next();
      ws.close(1000);
      assert.equal((await closedWithin(ws)).code, 1000, path);
    }
  });
});

describe('server pings', () => {
  let server;
  before(async () => { server = await startServer({ config: { websocket: { ping_interval_ms: 100 } } }); });
  after(async () => { await server?.stop(); });

  test('arrive at ping_interval_ms and the connection stays up', T, async () => {
    const ws = await openClient(server, '/ws/echo');
    let pings = 0;
    ws.on('ping', () => { pings += 1; });
    const started = Date.now();
    while (pings < 3) {
      await withDeadline(once(ws, 'ping'), 3000, `ping number ${pings + 1}`);
    }
    // Three pings at 100 ms cannot all arrive in much less than 200 ms.
    assert.ok(Date.now() - started >= 150, `3 pings in ${Date.now() - started} ms`);
    ws.send('still open');
    assert.equal((await ws.inbox.next()).data.toString(), 'still open');
    ws.close();
  });
});
