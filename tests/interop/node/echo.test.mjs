// /ws/echo with the `ws` client: exact bytes and message type for every size, whole
// and fragmented, with and without a permessage-deflate offer.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openClient, startServer } from './server.mjs';
import { binary, utf8Text } from './payloads.mjs';

const SIZES = [0, 125, 126, 65535, 65536, 16 * 1024 * 1024];
const T = { timeout: 120_000 };

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

async function echoOnce(message, isBinary, clientOptions) {
  const ws = await openClient(server, '/ws/echo', clientOptions);
  try {
    ws.send(message, { binary: isBinary });
    // 16 MiB echoed through a sanitizer build on two busy shared cores takes seconds:
    // allow 2 s per MiB on top of the usual 10 s.
    const reply = await ws.inbox.next(10_000 + Math.ceil((2_000 * message.length) / (1 << 20)));
    assert.equal(reply.isBinary, isBinary, 'message type changed');
    const expected = isBinary ? message : Buffer.from(message, 'utf8');
    assert.equal(reply.data.length, expected.length, 'length changed');
    assert.ok(reply.data.equals(expected), 'payload bytes changed');
  } finally {
    ws.close();
  }
}

for (const [label, clientOptions] of [['plain', {}], ['deflate offered', { perMessageDeflate: true }]]) {
  describe(`echo (${label})`, () => {
    for (const size of SIZES) {
      test(`text of ${size} bytes`, T, () => echoOnce(utf8Text(size), false, clientOptions));
      test(`binary of ${size} bytes`, T, () => echoOnce(binary(size), true, clientOptions));
    }
  });
}

describe('fragmented messages', () => {
  test('binary fragments are echoed as one message', T, async () => {
    const parts = [binary(10), binary(0), binary(70_000), binary(3)];
    const ws = await openClient(server, '/ws/echo');
    parts.forEach((part, i) => ws.send(part, { binary: true, fin: i === parts.length - 1 }));
    const reply = await ws.inbox.next();
    assert.equal(reply.isBinary, true);
    assert.ok(reply.data.equals(Buffer.concat(parts)));
    ws.close();
  });

  test('text fragments split inside multi-byte characters are echoed as one message', T, async () => {
    const whole = Buffer.from(utf8Text(4000), 'utf8');
    // Cut points at every offset 1..7 so some land inside 2, 3 and 4 byte sequences.
    const cuts = [0];
    for (let step = 1; cuts.at(-1) + step < whole.length; step = step % 7 + 1) cuts.push(cuts.at(-1) + step * 37 + step);
    cuts.push(whole.length);
    const ws = await openClient(server, '/ws/echo');
    for (let i = 0; i + 1 < cuts.length; i++) {
      ws.send(whole.subarray(cuts[i], cuts[i + 1]), { binary: false, fin: i + 2 === cuts.length });
    }
    const reply = await ws.inbox.next();
    assert.equal(reply.isBinary, false);
    assert.ok(reply.data.equals(whole));
    ws.close();
  });

  test('a whole message after a fragmented one is still its own message', T, async () => {
    const ws = await openClient(server, '/ws/echo');
    ws.send('one ', { fin: false });
    ws.send('two', { fin: true });
    ws.send('three');
    assert.equal((await ws.inbox.next()).data.toString(), 'one two');
    assert.equal((await ws.inbox.next()).data.toString(), 'three');
    ws.close();
  });
});

test('a thousand small messages come back in order', T, async () => {
  const ws = await openClient(server, '/ws/echo');
  const sent = Array.from({ length: 1000 }, (_, i) => `message ${i} ✓`);
  for (const m of sent) ws.send(m);
  for (const m of sent) assert.equal((await ws.inbox.next()).data.toString(), m);
  ws.close();
});
