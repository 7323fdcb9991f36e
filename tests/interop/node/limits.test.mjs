// max_message_bytes: the limit itself is accepted, one byte more is closed with 1009.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { closedWithin, openClient, startServer } from './server.mjs';
import { binary, utf8Text } from './payloads.mjs';

const T = { timeout: 30_000 };

for (const [label, limit, config] of [
  ['max_message_bytes = 1024', 1024, { websocket: { max_message_bytes: 1024 } }],
  ['default limit (16 MiB)', 16 * 1024 * 1024, undefined],
]) {
  describe(label, () => {
    let server;
    before(async () => { server = await startServer({ config }); });
    after(async () => { await server?.stop(); });

    test(`a binary message of exactly ${limit} bytes is echoed`, T, async () => {
      const ws = await openClient(server, '/ws/echo');
      const message = binary(limit);
      ws.send(message);
      assert.ok((await ws.inbox.next()).data.equals(message));
      ws.close();
    });

    test(`a binary message of ${limit + 1} bytes is closed with 1009`, T, async () => {
      const ws = await openClient(server, '/ws/echo');
      ws.send(binary(limit + 1));
      assert.equal((await closedWithin(ws, 10_000)).code, 1009);
    });

    test(`a text message of ${limit + 1} bytes sent in fragments is closed with 1009`, T, async () => {
      const ws = await openClient(server, '/ws/echo');
      const whole = Buffer.from(utf8Text(limit + 1), 'utf8');
      const half = limit >> 1;
      ws.send(whole.subarray(0, half), { binary: false, fin: false });
      ws.send(whole.subarray(half), { fin: true });
      assert.equal((await closedWithin(ws, 10_000)).code, 1009);
    });
  });
}
