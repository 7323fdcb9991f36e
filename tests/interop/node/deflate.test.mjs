// permessage-deflate with the `ws` client: each parameter combination it can offer, the
// exact agreement (ws.extensions), exact echoes of small and large text and binary, and
// proof from the socket's byte count that large messages travelled compressed.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openClient, startServer } from './server.mjs';
import { binary, utf8Text } from './payloads.mjs';

const T = { timeout: 60_000 };
const MiB = 1 << 20;

let server, serverOff;
before(async () => {
  server = await startServer();
  serverOff = await startServer({ config: { websocket: { compression: 'off', broadcast_compression: 'off' } } });
});
after(async () => {
  await server?.stop();
  await serverOff?.stop();
});

// [ws perMessageDeflate options, the Sec-WebSocket-Extensions answer expected]
const COMBINATIONS = [
  [{}, 'permessage-deflate'], // ws offers client_max_window_bits without a value
  [{ serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover'],
  [{ clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover'],
  [{ serverNoContextTakeover: true, clientNoContextTakeover: true },
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
  [{ serverMaxWindowBits: 8 }, 'permessage-deflate; server_max_window_bits=8'],
  [{ serverMaxWindowBits: 10 }, 'permessage-deflate; server_max_window_bits=10'],
  [{ serverMaxWindowBits: 15 }, 'permessage-deflate; server_max_window_bits=15'],
  // Node's zlib compresses with 9 when told 8 (raw DEFLATE has no 8-bit window): the
  // server inflates with at least 9 bits, so this works.
  [{ clientMaxWindowBits: 8 }, 'permessage-deflate; client_max_window_bits=8'],
  [{ clientMaxWindowBits: 9 }, 'permessage-deflate; client_max_window_bits=9'],
  [{ clientMaxWindowBits: 13 }, 'permessage-deflate; client_max_window_bits=13'],
  [{ serverMaxWindowBits: 11, clientMaxWindowBits: 12, serverNoContextTakeover: true, clientNoContextTakeover: true },
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=12'],
];

const compressibleText = '{"symbol":"ACME","side":"buy","px":101.25} '.repeat(30_000).slice(0, MiB);
const compressibleBinary = Buffer.alloc(MiB, 7);

async function echo(ws, message, isBinary) {
  ws.send(message, { binary: isBinary });
  const reply = await ws.inbox.next(30_000);
  assert.equal(reply.isBinary, isBinary);
  const expected = isBinary ? message : Buffer.from(message, 'utf8');
  assert.ok(reply.data.equals(expected), 'payload bytes changed');
}

describe('negotiated', () => {
  for (const [options, answer] of COMBINATIONS) {
    test(`offer ${JSON.stringify(options)}`, T, async () => {
      // threshold 0: ws compresses everything it sends, small messages too.
      const ws = await openClient(server, '/ws/echo', { perMessageDeflate: { threshold: 0, ...options } });
      assert.equal(ws.negotiatedHeader, answer);
      for (const [m, bin] of [['x', false], [utf8Text(1000), false], [binary(70_000), true], ['', false]]) {
        await echo(ws, m, bin);
        await echo(ws, m, bin); // again: relies on context takeover where agreed
      }
      const before = ws._socket.bytesRead;
      await echo(ws, compressibleText, false);
      await echo(ws, compressibleBinary, true);
      const received = ws._socket.bytesRead - before;
      if (options.serverMaxWindowBits === 8) {
        assert.ok(received > 2 * MiB, `a window of 8 means uncompressed replies (${received} bytes)`);
      } else {
        assert.ok(received < MiB / 4, `2 MiB of compressible echoes took ${received} bytes on the wire`);
      }
      ws.close();
    });
  }
});

test('declined by a server with compression off: plain frames, same echoes', T, async () => {
  const ws = await openClient(serverOff, '/ws/echo', { perMessageDeflate: { threshold: 0 } });
  assert.equal(ws.negotiatedHeader, undefined);
  const before = ws._socket.bytesRead;
  await echo(ws, compressibleText, false);
  assert.ok(ws._socket.bytesRead - before >= MiB);
  ws.close();
});

test('the broadcast endpoint answers no context takeover both ways and delivers compressed', T, async () => {
  const ws = await openClient(server, '/ws/broadcast', { perMessageDeflate: true });
  assert.equal(ws.negotiatedHeader, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  const before = ws._socket.bytesRead;
  for (let i = 0; i < 3; i++) await echo(ws, compressibleText, false);
  assert.ok(ws._socket.bytesRead - before < MiB / 4);
  ws.close();
});
