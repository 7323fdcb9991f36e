// Losing the network and coming back, with the official SignalR client: automatic
// reconnect on every transport after the connection is cut (a TCP proxy resets it: no
// close from either side), stateful reconnect over WebSockets without a lost or repeated
// message in either direction, bearer tokens refused and accepted, and a graceful
// shutdown that sends clients away with allowReconnect.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  COMBOS, CuttableProxy, Inbox, buildConnection, connect, makeToken, nextEvent, startHubServer, withDeadline,
} from './hub_support.mjs';

let server;
before(async () => { server = await startHubServer(); });
after(async () => { assert.equal(await server.stop(), 0); });

describe('automatic reconnect after the connection is cut', () => {
  for (const combo of COMBOS) {
    test(`${combo.transport}/${combo.protocol}`, async () => {
      const proxy = await CuttableProxy.start(server.port);
      const c = await connect(proxy.url('/hubs/test'), { ...combo, reconnect: true });
      try {
        const first = c.connectionId;
        await c.invoke('JoinGroup', 'before-the-cut');
        const reconnecting = nextEvent(c, 'onreconnecting');
        const reconnected = nextEvent(c, 'onreconnected');
        assert.ok(await proxy.drop() > 0);
        const why = await reconnecting;
        // The client's EventSource tells nothing about the loss: no error to pass on.
        if (combo.transport !== 'ServerSentEvents') assert.ok(why instanceof Error, `reconnecting with ${why}`);
        const id = await reconnected;
        assert.equal(c.state, 'Connected');
        assert.notEqual(id, first, 'a new connection');
        assert.equal(await c.invoke('GetConnectionId'), id);
        assert.equal(await c.invoke('GetTransport'), combo.transport);
        const messages = new Inbox(c, 'message');
        await c.invoke('SendToGroup', 'before-the-cut', 'gone with the old connection');
        await c.invoke('SendToConnection', id, 'works again');
        assert.deepEqual(await messages.next(), ['works again', id]);
      } finally {
        await c.stop();
        await proxy.close();
      }
    });
  }
});

// The server resumes a connection only on the event loop that owns it (a limit of the
// hub layer so far), and the client's new TCP connection lands on any loop (SO_REUSEPORT):
// these tests use a server with one loop; the next describe shows the limit.
describe('stateful reconnect (WebSockets)', () => {
  let single;
  before(async () => { single = await startHubServer(['--threads', '1']); });
  after(async () => { assert.equal(await single.stop(), 0); });
  for (const protocol of ['json', 'messagepack']) {
    test(`${protocol}: no message lost or repeated either way across two cuts`, async () => {
      const proxy = await CuttableProxy.start(single.port);
      const c = await connect(proxy.url('/hubs/test'), { transport: 'WebSockets', protocol, stateful: true });
      let reconnecting = false;
      c.onreconnecting(() => { reconnecting = true; });
      try {
        const id = c.connectionId;
        const ticks = new Inbox(c, 'tick');
        const done = new Inbox(c, 'ticksDone');
        const key = `stateful-${protocol}`;
        const count = 300;
        await c.invoke('Emit', count, 2);
        // Client to server: sends that do not wait for anything, across the cuts.
        const sends = [];
        for (let i = 0; i < count; i++) {
          sends.push(c.send('Note', key, i));
          if (i === 100 || i === 200) {
            await ticks.count(i / 2);
            const proxied = proxy.accepted;
            assert.ok(await proxy.drop() > 0);
            // The client comes back by itself, through the proxy.
            await withDeadline((async () => {
              while (proxy.accepted === proxied) await new Promise((r) => setTimeout(r, 5));
            })(), 5000, 'the client to reconnect');
          }
        }
        await withDeadline(Promise.all(sends), 10_000, 'the sends');
        assert.deepEqual(await done.next(15_000), [count]);
        assert.deepEqual(ticks.calls.map((a) => a[0]), [...Array(count).keys()], 'server to client: every tick once, in order');
        assert.deepEqual(await c.invoke('GetNotes', key), [...Array(count).keys()], 'client to server: every send once, in order');
        assert.equal(c.connectionId, id);
        assert.equal(await c.invoke('GetConnectionId'), id, 'the same connection');
        assert.equal(reconnecting, false);
        assert.ok(proxy.accepted >= 3);
      } finally {
        await c.stop();
        await proxy.close();
      }
    });
  }
});

// Fails today: a resumed WebSocket that lands on a loop other than the connection's owner
// is refused with 409 ("The connection cannot be resumed here"), and the client, which
// tries once, closes. With two loops each cut has about an even chance of that, so ten
// cuts in a row succeed only by luck (1 in 1024).
test('stateful reconnect on a two-loop server resumes wherever the new socket lands', async () => {
  const proxy = await CuttableProxy.start(server.port);
  const c = await connect(proxy.url('/hubs/test'), { transport: 'WebSockets', stateful: true });
  let closed = null;
  c.onclose((e) => { closed = e ?? new Error('closed'); });
  try {
    const id = c.connectionId;
    for (let cut = 1; cut <= 10; cut++) {
      const proxied = proxy.accepted;
      assert.ok(await proxy.drop() > 0);
      await withDeadline((async () => {
        while (proxy.accepted === proxied) await new Promise((r) => setTimeout(r, 5));
      })(), 5000, 'the client to reconnect');
      assert.equal(await c.invoke('Echo', cut), cut, `after cut ${cut} (${closed})`);
      assert.equal(closed, null);
    }
    assert.equal(await c.invoke('GetConnectionId'), id);
  } finally {
    await c.stop();
    await proxy.close();
  }
});

describe('bearer tokens', () => {
  test('no token: negotiate refused with 401, the text exact', async () => {
    const c = buildConnection(server.url('/hubs/auth'));
    await assert.rejects(c.start(),
      { message: "Failed to complete negotiation with the server: Error: Unauthorized: Status code '401'" });
  });

  test('a token signed with another key, or expired: 401', async () => {
    for (const token of [makeToken({ sub: 'mallory' }, 300, 'another-secret-of-enough-length-0123456789'),
      makeToken({ sub: 'late' }, -120)]) {
      const c = buildConnection(server.url('/hubs/auth'), { token });
      await assert.rejects(c.start(),
        { message: "Failed to complete negotiation with the server: Error: Unauthorized: Status code '401'" });
    }
  });

  for (const combo of COMBOS) {
    test(`accepted on ${combo.transport}/${combo.protocol}: the user is the token's subject`, async () => {
      const c = await connect(server.url('/hubs/auth'), { ...combo, token: makeToken({ sub: 'carol' }) });
      try {
        assert.equal(await c.invoke('GetUser'), 'carol');
        assert.equal(await c.invoke('GetTransport'), combo.transport);
      } finally {
        await c.stop();
      }
    });
  }
});

test('graceful shutdown (SIGTERM): clients get Close with allowReconnect and start reconnecting', async () => {
  const own = await startHubServer();
  const conns = [];
  try {
    for (const combo of COMBOS) conns.push(await connect(own.url('/hubs/test'), { ...combo, reconnect: [60_000] }));
    const reconnecting = conns.map((c) => nextEvent(c, 'onreconnecting'));
    const exit = own.stop();
    for (const r of reconnecting) assert.equal(await r, undefined, 'a Close without error');
    for (const c of conns) assert.equal(c.state, 'Reconnecting');
    assert.equal(await exit, 0);
  } finally {
    await Promise.all(conns.map((c) => c.stop()));
    await own.stop();
  }
});
