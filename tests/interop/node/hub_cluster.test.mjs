// Hubs across nodes: three hub test servers (tests/interop/hub_server.cpp) joined by a
// real redis-server (--backplane redis://...), with the official SignalR client connected
// to different nodes on every transport and protocol. Clients.All, Others, groups
// (joined on one node, sent to from another; membership changed from a node that does not
// own the connection), users with connections on two nodes, and Client(id) for a
// connection on another node: each reaches exactly the connections it names, once.
//
// A node's subscription to All is made at its start; the All test still sends numbered
// probes until one arrives (and ignores probes afterwards) so as not to depend on it.
// Groups, users and connections need no probe: a group change answers once it is in
// effect on every node, a user's connection gets its handshake answer once its node
// watches the user's topic, and negotiate answers once the connection's own topic is
// watched.

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { COMBOS, Inbox, connect, makeToken, startHubServer, withDeadline } from './hub_support.mjs';
import { startRedis } from './redis_server.mjs';

let redis;
let nodes;
before(async () => {
  redis = await startRedis();
  nodes = [];
  for (let i = 0; i < 3; i++) nodes.push(await startHubServer(['--backplane', redis.url]));
});
after(async () => {
  for (const n of nodes ?? []) assert.equal(await n.stop(), 0);
  await redis?.stop();
});

async function withConnections(list, fn) {
  const conns = [];
  try {
    for (const o of list) conns.push(await connect(nodes[o.node].url(o.path ?? '/hubs/test'), o));
    return await fn(...conns);
  } finally {
    await Promise.all(conns.map((c) => c.stop()));
  }
}

// Messages of the client method "message" that are not probes.
class Messages {
  constructor(connection) {
    this.inbox = new Inbox(connection, 'message');
    this.seen = 0;
  }
  real() { return this.inbox.calls.filter(([m]) => !String(m).startsWith('probe-')); }
  probes() { return this.inbox.calls.filter(([m]) => String(m).startsWith('probe-')).length; }
  // Resolves to the first n real messages once they are there.
  async take(n, ms = 10_000) {
    await withDeadline((async () => {
      while (this.real().length < n) await this.inbox.count(this.inbox.calls.length + 1, ms);
    })(), ms, `${n} messages (got ${JSON.stringify(this.real())})`);
    return this.real().slice(0, n);
  }
}

let probeSerial = 0;
// Sends probes through send() until `to` has received one: the subscriptions the send
// needs are then in effect.
async function untilReached(send, to) {
  await withDeadline((async () => {
    for (;;) {
      const before = to.probes();
      await send(`probe-${++probeSerial}`);
      const deadline = Date.now() + 200;
      while (Date.now() < deadline && to.probes() === before) await new Promise((r) => setTimeout(r, 10));
      if (to.probes() > before) return;
    }
  })(), 10_000, 'a probe to cross the backplane');
}

for (const combo of COMBOS) {
  const name = `${combo.transport}/${combo.protocol}`;
  describe(name, () => {
    test('All and Others reach every node once', () =>
      withConnections([{ ...combo, node: 0 }, { ...combo, node: 1 }, { transport: 'WebSockets', node: 2 }],
        async (a, b, c) => {
          const [ma, mb, mc] = [new Messages(a), new Messages(b), new Messages(c)];
          await untilReached((p) => a.invoke('SendToAll', p), mc);
          await untilReached((p) => a.invoke('SendToAll', p), mb);
          await b.invoke('SendToAll', 'hello');
          await c.invoke('SendToOthers', 'not to c');
          // Two publishers on two nodes: each message once, in either order.
          for (const m of [ma, mb]) {
            assert.deepEqual((await m.take(2)).sort(), [['hello', b.connectionId], ['not to c', c.connectionId]]);
          }
          assert.deepEqual(await mc.take(1), [['hello', b.connectionId]]);
          // Nothing more: a marker to each connection itself is the next real message.
          for (const [conn, m, n] of [[a, ma, 3], [b, mb, 3], [c, mc, 2]]) {
            await conn.invoke('SendToConnection', conn.connectionId, 'marker');
            assert.deepEqual((await m.take(n)).at(-1), ['marker', conn.connectionId]);
          }
        }));

    test('groups: joined on one node, sent to from another; changed from a third', () =>
      withConnections([{ ...combo, node: 0 }, { ...combo, node: 1 }, { transport: 'WebSockets', node: 2 }],
        async (a, b, c) => {
          const [ma, mb, mc] = [new Messages(a), new Messages(b), new Messages(c)];
          const group = `g-${name}`;
          // Each membership change answers once it is in effect on every node: the next
          // send reaches the member, without probing.
          assert.equal(await b.invoke('JoinGroup', group), true);
          // c (node 2) adds a (node 0) to the group: node 2 does not have a.
          assert.equal(await c.invoke('AddToGroup', a.connectionId, group), true);
          await c.invoke('SendToGroup', group, 'to the group');
          assert.deepEqual(await ma.take(1), [['to the group', c.connectionId]]);
          assert.deepEqual(await mb.take(1), [['to the group', c.connectionId]]);
          await b.invoke('SendToOthersInGroup', group, 'others in group');
          assert.deepEqual(await ma.take(2), [['to the group', c.connectionId], ['others in group', b.connectionId]]);
          // c removes a again, from its node; then only b gets the group's messages.
          assert.equal(await c.invoke('RemoveFromGroup', a.connectionId, group), true);
          await c.invoke('SendToConnection', a.connectionId, 'after removal');  // same path, in order after it
          assert.deepEqual((await ma.take(3)).at(-1), ['after removal', c.connectionId]);
          await c.invoke('SendToGroup', group, 'only b');
          // (b's own OthersInGroup message is not for b.)
          assert.deepEqual(await mb.take(2), [['to the group', c.connectionId], ['only b', c.connectionId]]);
          await c.invoke('SendToConnection', a.connectionId, 'marker');
          assert.deepEqual((await ma.take(4)).at(-1), ['marker', c.connectionId], 'a got nothing of the group after removal');
          assert.equal(mc.real().length, 0);
          // A connection no node has: false, from every node.
          assert.equal(await c.invoke('AddToGroup', 'no-such-connection', group), false);
        }));

    test('client results from a connection on another node', () =>
      withConnections([{ ...combo, node: 0 }, { transport: 'WebSockets', node: 1 }], async (a, b) => {
        a.on('ask', (x) => {
          if (x === 'fail') throw new Error('from the callback');
          return { doubled: x * 2 };
        });
        // No probe: a's node watched a's connection channel before negotiate answered.
        assert.deepEqual(await b.invoke('AskConnection', a.connectionId, 'ask', [21], 10_000), { result: { doubled: 42 } });
        assert.deepEqual(await b.invoke('AskConnection', a.connectionId, 'ask', ['fail'], 10_000),
          { error: 'Error: from the callback' });
        assert.deepEqual(await b.invoke('AskConnection', 'no-such-connection', 'ask', [1], 300),
          { error: 'The client did not answer in time.' });
      }));

    test('users with connections on two nodes, and Client(id) on another node', () => {
      const alice = { ...combo, path: '/hubs/auth', token: makeToken({ sub: `alice-${name}` }) };
      const bob = { transport: 'WebSockets', path: '/hubs/auth', token: makeToken({ sub: `bob-${name}` }), node: 2 };
      return withConnections([{ ...alice, node: 0 }, { ...alice, node: 1 }, bob], async (a1, a2, b) => {
        const [m1, m2, mb] = [new Messages(a1), new Messages(a2), new Messages(b)];
        // No probe: a user's connection is answered its handshake once its node watches
        // the user's topic.
        await b.invoke('SendToUser', `alice-${name}`, 'for alice');
        assert.deepEqual(await m1.take(1), [['for alice', b.connectionId]]);
        assert.deepEqual(await m2.take(1), [['for alice', b.connectionId]]);
        await a1.invoke('SendToConnection', a2.connectionId, 'a1 to a2');
        assert.deepEqual(await m2.take(2), [['for alice', b.connectionId], ['a1 to a2', a1.connectionId]]);
        await b.invoke('SendToConnection', b.connectionId, 'marker');
        assert.deepEqual(await mb.take(1), [['marker', b.connectionId]], 'bob got nothing meant for alice');
        assert.equal(m1.real().length, 1);
      });
    });
  });
}

// A load balancer without affinity: every HTTP request, and every WebSocket upgrade, goes
// to the next node in turn. It records which node each request of a connection reached.
async function roundRobin(ports) {
  let next = 0;
  const seen = [];  // { method, id, port }
  const pick = (req) => {
    const port = ports[next++ % ports.length];
    const id = new URL(req.url, 'http://x').searchParams.get('id');
    seen.push({ method: req.headers.upgrade ? 'UPGRADE' : req.method, id, port });
    return port;
  };
  const server = http.createServer((req, res) => {
    const upstream = http.request({ host: '127.0.0.1', port: pick(req), method: req.method, path: req.url,
      headers: req.headers, agent: false }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());  // the client left (an event stream it closed)
    req.pipe(upstream);
  });
  server.on('upgrade', (req, socket, head) => {
    const upstream = net.connect(pick(req), '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: (path) => `http://127.0.0.1:${server.address().port}${path}`,
    seen,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

describe('no sticky sessions: every request to the next node', () => {
  let lb;
  before(async () => { lb = await roundRobin(nodes.map((n) => n.port)); });
  after(async () => { await lb?.close(); });

  for (const combo of COMBOS) {
    const name = `${combo.transport}/${combo.protocol}`;
    test(`${name}: invocations, streams, groups, users and client results`, async () => {
      const user = `carol-${name}`;
      const a = await connect(lb.url('/hubs/auth'), { ...combo, token: makeToken({ sub: user }) });
      const b = await connect(lb.url('/hubs/test'), { ...combo });
      const bId = b.connectionId;  // (null once stopped)
      try {
        assert.equal(await a.invoke('GetTransport'), combo.transport);
        assert.equal(await a.invoke('GetUser'), user);  // the user from negotiate, wherever it opened
        assert.equal(await a.invoke('GetConnectionId'), a.connectionId);
        for (let i = 0; i < 12; i++) assert.equal(await b.invoke('Add', i, 1), i + 1);
        const items = [];
        await new Promise((resolve, reject) => {
          b.stream('Counter', 5, 0).subscribe({ next: (x) => items.push(x), complete: resolve, error: reject });
        });
        assert.deepEqual(items, [0, 1, 2, 3, 4]);
        // Groups and users: a is /hubs/auth, b is /hubs/test; b's messages to itself and its
        // group, a's to its own user.
        const mb = new Messages(b);
        await b.invoke('JoinGroup', `lb-${name}`);
        await b.invoke('SendToGroup', `lb-${name}`, 'to the group');
        assert.deepEqual(await mb.take(1), [['to the group', b.connectionId]]);
        const ma = new Messages(a);
        await a.invoke('SendToUser', user, 'to my user');
        assert.deepEqual(await ma.take(1), [['to my user', a.connectionId]]);
        b.on('ask', (x) => x + 1);
        const c = await connect(lb.url('/hubs/test'), { transport: 'WebSockets' });
        try {
          assert.deepEqual(await c.invoke('AskConnection', b.connectionId, 'ask', [41], 10_000), { result: 42 });
        } finally {
          await c.stop();
        }
      } finally {
        await a.stop();
        await b.stop();
      }
      // The requests of b's connection really were spread: SSE and long polling — the stream
      // or the first poll on one node, POSTs and polls on the others; WebSockets — the socket
      // on the node after the one that negotiated it.
      const ofB = lb.seen.filter((r) => r.id?.startsWith(bId));
      if (combo.transport === 'WebSockets') {
        const at = lb.seen.findIndex((r) => r.method === 'UPGRADE' && r.id?.startsWith(bId));
        const negotiate = lb.seen[at - 1];
        assert.ok(negotiate.method === 'POST' && !negotiate.id && negotiate.port !== lb.seen[at].port,
          JSON.stringify(lb.seen));
      } else {
        assert.ok(new Set(ofB.map((r) => r.port)).size === nodes.length, JSON.stringify(ofB));
      }
      lb.seen.length = 0;
    });
  }
});

// A TCP proxy to Redis that holds every byte a node sends for `ms` (in order): that node's
// SUBSCRIBEs take effect late, so any send that does not wait for them is lost.
async function slowLink(redisPort, ms) {
  const server = net.createServer((client) => {
    const upstream = net.connect(redisPort, '127.0.0.1');
    client.on('data', (d) => setTimeout(() => upstream.write(d), ms));
    upstream.pipe(client);
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, close: () => new Promise((resolve) => server.close(resolve)) };
}

describe('a node whose Redis subscriptions take effect late', () => {
  let link;
  let slow;
  before(async () => {
    link = await slowLink(Number(new URL(redis.url).port), 300);
    slow = await startHubServer(['--backplane', `redis://127.0.0.1:${link.port}`]);
  });
  after(async () => {
    if (slow) assert.equal(await slow.stop(), 0);
    await link?.close();
  });

  // Each step returns only once other nodes' sends reach the connection, so the very next
  // send from another node arrives: the connection's own topic (negotiate), its user's
  // (the handshake), a group's (JoinGroup).
  for (const combo of COMBOS) {
    const name = `${combo.transport}/${combo.protocol}`;
    test(`${name}: a connection, its user and its groups are reachable from other nodes at once`, async () => {
      const user = `dave-${name}`;
      const d = await connect(slow.url('/hubs/auth'), { ...combo, token: makeToken({ sub: user }) });
      const other = await connect(nodes[0].url('/hubs/auth'), { transport: 'WebSockets', token: makeToken({ sub: 'eve' }) });
      try {
        const md = new Messages(d);
        await other.invoke('SendToConnection', d.connectionId, 'to the connection');
        await other.invoke('SendToUser', user, 'to the user');
        assert.equal(await d.invoke('JoinGroup', `late-${name}`), true);
        await other.invoke('SendToGroup', `late-${name}`, 'to the group');
        assert.deepEqual(await md.take(3), [['to the connection', other.connectionId],
          ['to the user', other.connectionId], ['to the group', other.connectionId]]);
        // Without a user (nothing else to wait for after negotiate).
        const anonymous = await connect(slow.url('/hubs/test'), { ...combo });
        try {
          const ma = new Messages(anonymous);
          const sender = await connect(nodes[1].url('/hubs/test'), { transport: 'WebSockets' });
          try {
            await sender.invoke('SendToConnection', anonymous.connectionId, 'right after start');
            assert.deepEqual(await ma.take(1), [['right after start', sender.connectionId]]);
          } finally {
            await sender.stop();
          }
        } finally {
          await anonymous.stop();
        }
      } finally {
        await d.stop();
        await other.stop();
      }
    });
  }
});
