// Hubs against the official SignalR client (@microsoft/signalr 10, and its MessagePack
// protocol), over every transport with every protocol it carries: invoke, send, calls
// from the server, streams both ways with cancel, client results, groups, users,
// Clients.Others, and a Close from the server. The server is the library's own test
// server (tests/interop/hub_server.cpp).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  COMBOS, Inbox, connect, makeToken, nextEvent, startHubServer, withDeadline,
} from './hub_support.mjs';
import signalR from '@microsoft/signalr';

let server;
before(async () => { server = await startHubServer(); });
after(async () => { assert.equal(await server.stop(), 0); });

// Runs fn with connections opened by `options` (one object per connection), and stops
// them whatever happens.
async function withConnections(optionsList, fn) {
  const conns = [];
  try {
    for (const o of optionsList) conns.push(await connect(server.url(o.path ?? '/hubs/test'), o));
    return await fn(...conns);
  } finally {
    await Promise.all(conns.map((c) => c.stop()));
  }
}

// Resolves to the items of a server-to-client stream once it completes.
function collectStream(stream) {
  return withDeadline(new Promise((resolve, reject) => {
    const items = [];
    stream.subscribe({ next: (v) => items.push(v), complete: () => resolve(items), error: reject });
  }), 10_000, 'the stream to complete');
}

for (const combo of COMBOS) {
  const name = `${combo.transport}/${combo.protocol}`;
  describe(name, () => {
    test('invoke: results, arguments, the transport used and a HubException', () => withConnections([combo], async (c) => {
      assert.equal(await c.invoke('GetTransport'), combo.transport);
      assert.equal(await c.invoke('Add', 2, 40), 42);
      assert.equal(await c.invoke('Echo', 'hello 你好 \u{1F600}'), 'hello 你好 \u{1F600}');
      const object = { name: 'x', list: [1, 2.5, null, true], nested: { empty: '' } };
      assert.deepEqual(await c.invoke('Echo', object), object);
      if (combo.protocol === 'messagepack') {
        assert.deepEqual(await c.invoke('Echo', new Uint8Array([0, 1, 255])), new Uint8Array([0, 1, 255]));
      }
      await assert.rejects(c.invoke('Throw', 'boom'),
        { message: "An unexpected error occurred invoking 'Throw' on the server. HubException: boom" });
      await assert.rejects(c.invoke('NoSuchMethod'),
        { message: "Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method does not exist." });
      assert.equal(await c.invoke('add', 1, 1), 2, 'method names match case-insensitively');
    }));

    test('send: runs the method, in order, and nothing comes back, not even an error', () => withConnections([combo], async (c) => {
      const key = `send-${name}`;
      const before = await c.invoke('Stats');
      for (let i = 0; i < 5; i++) await c.send('Note', key, i);
      await c.send('Throw', 'no answer');
      await c.send('NoSuchMethod');
      const afterSends = await c.invoke('Stats');
      // The server sent one message in between: the first Stats call's Completion.
      assert.equal(afterSends.messagesOut - before.messagesOut, 1);
      assert.equal(afterSends.invocations - before.invocations, 8);
      assert.deepEqual(await c.invoke('GetNotes', key), [0, 1, 2, 3, 4]);
    }));

    test('calls from the server reach the client in order, before the method\'s result', () => withConnections([combo], async (c) => {
      const messages = new Inbox(c, 'message');
      const ticks = new Inbox(c, 'tick');
      const done = new Inbox(c, 'ticksDone');
      const id = await c.invoke('GetConnectionId');
      assert.equal(id, c.connectionId);
      await c.invoke('SendToConnection', id, { text: 'to me' });
      assert.equal(messages.calls.length, 1, 'the call came before the Completion');
      assert.deepEqual(messages.calls[0], [{ text: 'to me' }, id]);
      await c.invoke('Emit', 20, 0);
      assert.deepEqual(await done.next(), [20]);
      assert.deepEqual(ticks.calls.map((a) => a[0]), [...Array(20).keys()]);
    }));

    test('server-to-client stream that fails: its items, then the error Completion', () => withConnections([combo], async (c) => {
      const items = [];
      const error = await withDeadline(new Promise((resolve, reject) => {
        c.stream('CountThenFail', 3, 'gave up').subscribe({
          next: (v) => items.push(v),
          complete: () => reject(new Error('the stream completed without its error')),
          error: resolve,
        });
      }), 10_000, 'the stream to fail');
      assert.deepEqual(items, [0, 1, 2]);
      assert.equal(error.message, 'An error occurred on the server while streaming results. HubException: gave up');
    }));

    test('server-to-client stream: every item, then the end; a cancel reaches the server', () => withConnections([combo], async (c) => {
      assert.deepEqual(await collectStream(c.stream('Counter', 10, 0)), [...Array(10).keys()]);

      const cancelled = new Inbox(c, 'streamCanceled');
      const cancelsBefore = await c.invoke('CancelCount');
      const items = [];
      let subscription;
      await withDeadline(new Promise((resolve, reject) => {
        subscription = c.stream('Counter', 100_000, 5).subscribe({
          next: (v) => { items.push(v); if (items.length === 3) resolve(); },
          complete: () => reject(new Error('the endless stream completed')),
          error: reject,
        });
      }), 10_000, 'three items');
      subscription.dispose();
      assert.deepEqual(await cancelled.next(), [100_000]);
      assert.equal(await c.invoke('CancelCount'), cancelsBefore + 1);
      assert.deepEqual(items.slice(0, 3), [0, 1, 2]);
      assert.equal(await c.invoke('Add', 1, 2), 3, 'the connection goes on');
    }));

    test('client-to-server streams: sum, concat, and an upload that fails', () => withConnections([combo], async (c) => {
      const numbers = new signalR.Subject();
      const sum = c.invoke('Sum', numbers);
      for (const n of [1, 2, 3.5, 100]) numbers.next(n);
      numbers.complete();
      assert.equal(await sum, 106.5);

      const words = new signalR.Subject();
      const concat = c.invoke('Concat', words);
      for (const w of ['a', 'β', 'c']) words.next(w);
      words.complete();
      assert.equal(await concat, 'aβc');

      const failing = new signalR.Subject();
      const failed = c.invoke('Concat', failing);
      failing.next('x');
      failing.error(new Error('the client gave up'));
      await assert.rejects(failed,
        { message: "An unexpected error occurred invoking 'Concat' on the server. HubException: the client gave up" });
    }));

    test('client results: a value, the handler\'s error, no handler', () => withConnections([combo], async (c) => {
      c.on('multiply', (a, b) => a * b);
      c.on('fail', () => { throw new Error('from callback'); });
      assert.deepEqual(await c.invoke('AskCaller', 'multiply', [6, 7]), { result: 42 });
      assert.deepEqual(await c.invoke('AskCaller', 'MULTIPLY', [2, 3]), { result: 6 }, 'client names match case-insensitively');
      assert.deepEqual(await c.invoke('AskCaller', 'fail', []), { error: 'Error: from callback' });
      assert.deepEqual(await c.invoke('AskCaller', 'nobody', []), { error: "Client didn't provide a result." });
    }));

    test('groups: join, send to the group and to the others in it, leave', () => withConnections(
      [combo, { transport: 'WebSockets', protocol: 'json' }, { transport: 'LongPolling', protocol: 'messagepack' }],
      async (a, b, outsider) => {
        const [ia, ib, io] = [new Inbox(a, 'message'), new Inbox(b, 'message'), new Inbox(outsider, 'message')];
        const group = `g-${name}`;
        await a.invoke('JoinGroup', group);
        await b.invoke('JoinGroup', group);
        await a.invoke('SendToGroup', group, 'one');
        assert.deepEqual(await ia.next(), ['one', a.connectionId]);
        assert.deepEqual(await ib.next(), ['one', a.connectionId]);
        await a.invoke('SendToOthersInGroup', group, 'two');
        assert.deepEqual(await ib.next(), ['two', a.connectionId]);
        await b.invoke('LeaveGroup', group);
        await a.invoke('SendToGroup', group, 'three');
        assert.deepEqual(await ia.next(), ['three', a.connectionId]);
        // b and the outsider get "four" next: "three" never came to them.
        await a.invoke('SendToAll', 'four');
        assert.deepEqual(await ib.next(), ['four', a.connectionId]);
        assert.deepEqual(await io.next(), ['four', a.connectionId]);
        assert.deepEqual(await ia.next(), ['four', a.connectionId]);
      }));

    test('Clients.Others: everyone but the caller', () => withConnections(
      [combo, { transport: 'WebSockets', protocol: 'messagepack' }], async (a, b) => {
        const [ia, ib] = [new Inbox(a, 'message'), new Inbox(b, 'message')];
        await a.invoke('SendToOthers', 'not to me');
        assert.deepEqual(await ib.next(), ['not to me', a.connectionId]);
        await a.invoke('SendToConnection', a.connectionId, 'marker');
        assert.deepEqual(await ia.next(), ['marker', a.connectionId], 'the caller got nothing before its marker');
      }));

    test('users: every connection of the user gets it, no one else', () => {
      const alice = { ...combo, path: '/hubs/auth', token: makeToken({ sub: 'alice' }) };
      const bob = { transport: 'WebSockets', protocol: 'json', path: '/hubs/auth', token: makeToken({ sub: 'bob' }) };
      return withConnections([alice, { ...alice, transport: 'WebSockets' }, bob], async (a1, a2, b) => {
        const [i1, i2, ib] = [new Inbox(a1, 'message'), new Inbox(a2, 'message'), new Inbox(b, 'message')];
        assert.equal(await a1.invoke('GetUser'), 'alice');
        await b.invoke('SendToUser', 'alice', 'for alice');
        assert.deepEqual(await i1.next(), ['for alice', b.connectionId]);
        assert.deepEqual(await i2.next(), ['for alice', b.connectionId]);
        await b.invoke('SendToConnection', b.connectionId, 'marker');
        assert.deepEqual(await ib.next(), ['marker', b.connectionId], 'bob got nothing before his marker');
      });
    });

    test('Close from the server without allowReconnect: closed for good, with the error', async () => {
      const c = await connect(server.url('/hubs/test'), { ...combo, reconnect: true });
      let reconnecting = false;
      c.onreconnecting(() => { reconnecting = true; });
      const closed = nextEvent(c, 'onclose');
      await c.send('CloseMe', 'go away', false);
      const error = await closed;
      assert.equal(error?.message, 'Server returned an error on close: go away');
      assert.equal(reconnecting, false);
      assert.equal(c.state, 'Disconnected');
    });

    test('Close from the server with allowReconnect: the client comes back as a new connection', async () => {
      const c = await connect(server.url('/hubs/test'), { ...combo, reconnect: true });
      try {
        const first = c.connectionId;
        const reconnecting = nextEvent(c, 'onreconnecting');
        const reconnected = nextEvent(c, 'onreconnected');
        await c.send('CloseMe', '', true);
        assert.equal(await reconnecting, undefined, 'a Close without error');
        const id = await reconnected;
        assert.notEqual(id, first);
        assert.equal(await c.invoke('GetConnectionId'), id);
      } finally {
        await c.stop();
      }
    });
  });
}
