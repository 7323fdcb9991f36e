// The connection layer without the hub protocol (Server::connections): the conformance
// app's /echo with the official client's HttpConnection on each transport — negotiate,
// the transport, bytes echoed exactly once — and the cookie gate: a client without the
// cookie negotiate sets is ended at once.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import signalR from '@microsoft/signalr';
import httpConnection from '@microsoft/signalr/dist/cjs/HttpConnection.js';
import WebSocket from 'ws';
import { startConformanceServer, withDeadline } from './hub_support.mjs';

const { HttpConnection } = httpConnection;
let server;
before(async () => { server = await startConformanceServer(); });
after(async () => { assert.equal(await server.stop(), 0); });

for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
  test(`/echo echoes text over ${transport}`, async () => {
    const c = new HttpConnection(server.url('/echo'), {
      transport: signalR.HttpTransportType[transport], logger: signalR.LogLevel.None,
    });
    const received = [];
    let first;
    const got = new Promise((resolve) => { first = resolve; });
    c.onreceive = (data) => { received.push(data); first(); };
    await c.start(signalR.TransferFormat.Text);
    await c.send('Hello World!');
    await withDeadline(got, 10_000, 'the echo');
    // A second message proves the first came back once, not twice.
    await c.send('again');
    await withDeadline(new Promise((resolve) => {
      const check = () => (received.length >= 2 ? resolve() : setTimeout(check, 5));
      check();
    }), 10_000, 'the second echo');
    assert.deepEqual(received, ['Hello World!', 'again']);
    await c.stop();
  });
}

test('/echo ends a connection that lacks the cookie negotiate sets', async () => {
  // Negotiate by hand, then open the WebSocket without the cookie jar.
  const res = await fetch(server.url('/echo/negotiate?negotiateVersion=1'), { method: 'POST' });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('set-cookie'), /testCookie=testValue/);
  const { connectionToken } = await res.json();
  const ws = new WebSocket(`${server.url('/echo').replace('http', 'ws')}?id=${connectionToken}`);
  const closed = new Promise((resolve) => { ws.on('close', (code) => resolve(code)); });
  assert.equal(await withDeadline(closed, 10_000, 'the server to end it'), 1000);
});
