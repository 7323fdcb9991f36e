// The conformance app (`wirehub --app signalr-conformance`, signalr/TEST-HUB.md) against
// the official SignalR client: every TestHub method and the generic behaviours of its
// section 2 (error texts byte for byte) on every transport and protocol, cookies from
// negotiate, /clientresult, /authorizedhub with a token from /generateJwtToken, the
// negotiate redirect, /bad-negotiate and /testhub-nowebsockets.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import signalR from '@microsoft/signalr';
import {
  COMBOS, Inbox, buildConnection, connect, startConformanceServer, withDeadline,
} from './hub_support.mjs';

let server;
let base;
before(async () => {
  server = await startConformanceServer();
  base = server.url('');
});
after(async () => { assert.equal(await server.stop(), 0); });

async function withConnection(url, options, fn) {
  const c = await connect(url, options);
  try {
    return await fn(c);
  } finally {
    await c.stop();
  }
}

function collectStream(stream) {
  return withDeadline(new Promise((resolve, reject) => {
    const items = [];
    stream.subscribe({ next: (v) => items.push(v), complete: () => resolve(items), error: reject });
  }), 10_000, 'the stream to end');
}

const unexpected = (method, type, message) =>
  `An unexpected error occurred invoking '${method}' on the server. ${type}: ${message}`;

for (const combo of COMBOS) {
  const name = `${combo.transport}/${combo.protocol}`;
  const hub = (fn) => () => withConnection(`${base}/testhub`, combo, fn);
  describe(`TestHub over ${name}`, () => {
    test('Echo', hub(async (c) => {
      assert.equal(await c.invoke('Echo', '你好，世界！'), '你好，世界！');
    }));

    test('GetCallerConnectionId is the negotiated connectionId', hub(async (c) => {
      assert.equal(await c.invoke('GetCallerConnectionId'), c.connectionId);
    }));

    test('ThrowException', hub(async (c) => {
      await assert.rejects(c.invoke('ThrowException', 'An error occurred.'),
        { message: unexpected('ThrowException', 'InvalidOperationException', 'An error occurred.') });
    }));

    test('InvokeWithString calls Message on the caller first', hub(async (c) => {
      const messages = new Inbox(c, 'Message');
      assert.equal(await c.invoke('invokeWithString', 'hello'), undefined, 'a void Completion');
      assert.deepEqual(messages.calls, [['hello']]);
    }));

    test('SendCustomObject calls CustomObject', hub(async (c) => {
      const objects = new Inbox(c, 'CustomObject');
      await c.invoke('SendCustomObject', { Name: 'test', Value: 42 });
      assert.deepEqual(objects.calls, [[{ Name: 'test', Value: 42 }]]);
    }));

    test('Stream, EmptyStream', hub(async (c) => {
      assert.deepEqual(await collectStream(c.stream('Stream')), ['a', 'b', 'c']);
      assert.deepEqual(await collectStream(c.stream('EmptyStream')), []);
    }));

    test('InfiniteStream: a cancel calls StreamCanceled', hub(async (c) => {
      const cancelled = new Inbox(c, 'StreamCanceled');
      let ended = null;
      const subscription = c.stream('InfiniteStream').subscribe({
        next: (v) => { ended = `an item ${v}`; },
        complete: () => { ended = 'complete'; },
        error: (e) => { ended = `error ${e}`; },
      });
      // The stream has started once a later call has its answer (one connection, in order).
      assert.equal(await c.invoke('Echo', 'x'), 'x');
      assert.equal(ended, null, 'the stream goes on until cancelled');
      subscription.dispose();
      assert.deepEqual(await cancelled.next(), []);
    }));

    test('StreamingConcat, and an upload that ends with an error', hub(async (c) => {
      const subject = new signalR.Subject();
      const result = c.invoke('StreamingConcat', subject);
      for (const s of ['a', 'b', 'c']) subject.next(s);
      subject.complete();
      assert.equal(await result, 'abc');

      const failing = new signalR.Subject();
      const failed = c.invoke('StreamingConcat', failing);
      failing.next('a');
      failing.error(new Error('An error occurred.'));
      await assert.rejects(failed, { message: unexpected('StreamingConcat', 'HubException', 'An error occurred.') });
    }));

    test('StreamThrowException: an error and no item', hub(async (c) => {
      await assert.rejects(collectStream(c.stream('StreamThrowException', 'An error occurred.')),
        { message: unexpected('StreamThrowException', 'InvalidOperationException', 'An error occurred.') });
    }));

    test('GetActiveTransportName', hub(async (c) => {
      assert.equal(await c.invoke('GetActiveTransportName'), combo.transport);
    }));

    test('EchoComplexObject and SendComplexObject', hub(async (c) => {
      if (combo.protocol === 'json') {
        const o = { ByteArray: 'aGVsbG8=', DateTime: '2002-04-01T10:20:15Z', Guid: '00010203-0405-0607-0706-050403020100',
          IntArray: [1, 2, 3, 255], String: 'Hello, World!' };
        assert.deepEqual(await c.invoke('EchoComplexObject', o), o);
        assert.deepEqual(await c.invoke('SendComplexObject'), { ByteArray: 'AQID', DateTime: '2000-01-01T00:00:00Z',
          Guid: '00010203-0405-0607-0706-050403020100', IntArray: [1, 2, 3], String: 'hello world' });
      } else {
        const o = { ByteArray: new Uint8Array([0x68, 0x65, 0x6c, 0x6c, 0x6f]), DateTime: new Date(Date.UTC(2002, 3, 1, 10, 20, 15)),
          Guid: '00010203-0405-0607-0706-050403020100', IntArray: [1, 2, 3, 255], String: 'Hello, World!' };
        assert.deepEqual(await c.invoke('EchoComplexObject', o), o);
        assert.deepEqual(await c.invoke('SendComplexObject'), { ByteArray: new Uint8Array([1, 2, 3]),
          DateTime: new Date(Date.UTC(2000, 0, 1)), Guid: '00010203-0405-0607-0706-050403020100', IntArray: [1, 2, 3],
          String: 'hello world' });
      }
    }));

    test('GetHeader and GetCookie read the request that opened the transport', async () => {
      // A user header, as applications set them (withUrl's headers option).
      const c = await connect(`${base}/testhub`, { ...combo, headers: { 'X-Interop': 'yes' } });
      try {
        assert.equal(await c.invoke('GetHeader', 'x-interop'), 'yes');
        assert.equal(await c.invoke('GetHeader', 'X-Absent'), null);
        assert.equal(await c.invoke('GetCookie', 'testCookie'), 'testValue');
        assert.equal(await c.invoke('GetCookie', 'testCookie2'), 'testValue2');
        assert.equal(await c.invoke('GetCookie', 'expiredCookie'), null);
      } finally {
        await c.stop();
      }
    });

    test('generic: streaming and non-streaming mismatches, unknown methods, send', hub(async (c) => {
      await assert.rejects(c.invoke('EmptyStream'),
        { message: "The client attempted to invoke the streaming 'EmptyStream' method with a non-streaming invocation." });
      await assert.rejects(c.invoke('Stream'),
        { message: "The client attempted to invoke the streaming 'Stream' method with a non-streaming invocation." });
      await assert.rejects(collectStream(c.stream('Echo', '42')),
        { message: "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation." });
      await assert.rejects(c.invoke('NotAMethod'),
        { message: "Failed to invoke 'NotAMethod' due to an error on the server. HubException: Method does not exist." });
      const messages = new Inbox(c, 'Message');
      await c.send('InvokeWithString', 'sent');
      assert.deepEqual(await messages.next(), ['sent']);
      await c.send('Echo', 'no answer');
      assert.equal(await c.invoke('Echo', 'still in order'), 'still in order');
    }));

    test('/clientresult/{connectionId}: the value, the handler\'s error, no handler', hub(async (c) => {
      const ask = async () => {
        const res = await fetch(`${base}/clientresult/${c.connectionId}`);
        assert.equal(res.status, 200);
        return res.text();
      };
      assert.equal(await ask(), "Client didn't provide a result.");
      c.on('Result', () => { throw new Error('from callback'); });
      assert.equal(await ask(), 'Error: from callback');
      c.off('Result');
      c.on('Result', () => 10);
      assert.equal(await ask(), '10');
    }));

    test('/authorizedhub with a token from /generateJwtToken', async () => {
      const token = await (await fetch(`${base}/generateJwtToken`)).text();
      await withConnection(`${base}/authorizedhub`, { ...combo, token }, async (c) => {
        assert.equal(await c.invoke('Echo', 'authorized'), 'authorized');
      });
    });
  });
}

describe('endpoints around the hubs', () => {
  test('/authorizedhub without a token: 401, the text exact', async () => {
    const c = buildConnection(`${base}/authorizedhub`);
    await assert.rejects(c.start(),
      { message: "Failed to complete negotiation with the server: Error: Unauthorized: Status code '401'" });
  });

  test('negotiate redirect: the client follows it to /testHub and the hub sees the query', async () => {
    const url = `${base}/redirect?baseUrl=${encodeURIComponent(base)}`;
    await withConnection(url, {}, async (c) => {
      const n = await c.invoke('GetNumRedirects');
      assert.ok(Number.isInteger(n) && n >= 1, `numRedirects ${n}`);
      await withConnection(url, {}, async (d) => {
        assert.ok(await d.invoke('GetNumRedirects') > n, 'the counter goes up per redirect');
      });
    });
  });

  test('/bad-negotiate: the body in the error text', async () => {
    const c = buildConnection(`${base}/bad-negotiate`);
    await assert.rejects(c.start(),
      { message: "Failed to complete negotiation with the server: Error: Some response from server: Status code '400'" });
  });

  test('/testhub-nowebsockets: the client falls back to Server-Sent Events; WebSockets alone fails', async () => {
    await withConnection(`${base}/testhub-nowebsockets`, { transport: null }, async (c) => {
      assert.equal(await c.invoke('GetActiveTransportName'), 'ServerSentEvents');
    });
    await withConnection(`${base}/testhub-nowebsockets`, { transport: 'LongPolling', protocol: 'messagepack' }, async (c) => {
      assert.equal(await c.invoke('GetActiveTransportName'), 'LongPolling');
    });
    const ws = buildConnection(`${base}/testhub-nowebsockets`, { transport: 'WebSockets' });
    await assert.rejects(ws.start(), /Unable to connect to the server with any of the available transports/);
  });
});
