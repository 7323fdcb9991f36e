// SIGTERM: open WebSockets are closed with 1001 (going away) and the server exits 0.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closedWithin, openClient, startServer } from './server.mjs';

test('SIGTERM closes every client with 1001 and exits 0', { timeout: 30_000 }, async () => {
  const server = await startServer();
  try {
    const clients = [];
    for (const path of ['/ws/echo', '/ws/orders', '/ws/broadcast']) {
      const ws = await openClient(server, path);
      ws.send('ready?');
      await ws.inbox.next(); // the session is fully established before the signal
      clients.push(ws);
    }
    server.child.kill('SIGTERM');
    for (const ws of clients) assert.equal((await closedWithin(ws, 10_000)).code, 1001);
    assert.equal(await server.waitExit(10_000), 0);
  } finally {
    await server.stop();
  }
});
