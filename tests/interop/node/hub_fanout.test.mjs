// Sends to many connections (a group, everyone but the caller) against the official SignalR
// client, with the receivers spread over a three-loop server and taking the messages in
// every form there is: WebSockets with JSON and with MessagePack, stateful or not, Server-Sent
// Events, long polling with both protocols. The server serialises such a message once per
// protocol, frames it once as a WebSocket message and shares that frame (and one event for
// the event streams) among the receivers of each loop; a stateful connection keeps the same
// bytes for its replay. Each receiver must get every message exactly once, in order, with
// its exact payload, whatever its size (the frame header's three length forms, frames that
// share a loop's arena and frames too large for it).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { COMBOS, CuttableProxy, Inbox, connect, startHubServer, withDeadline } from './hub_support.mjs';

let server;
before(async () => { server = await startHubServer(['--threads', '3']); });
after(async () => { assert.equal(await server.stop(), 0); });

const STATEFUL = [
  { transport: 'WebSockets', protocol: 'json', stateful: true },
  { transport: 'WebSockets', protocol: 'messagepack', stateful: true },
];

// Payload sizes around the WebSocket header's length forms (125 / 126) and the size up to
// which a loop copies frames into its shared arena (2 KiB), and well past both.
const SIZES = [1, 40, 119, 120, 1000, 2030, 2100, 9000, 20000];
// Message i: its number, then text of a size from SIZES with two- and three-byte UTF-8
// characters in it.
function payload(i) {
  const size = SIZES[i % SIZES.length];
  return `${i}:${'abcdé€'.repeat(Math.ceil(size / 6)).slice(0, size)}`;
}

async function openAll(url, optionsList) {
  return Promise.all(optionsList.map((o) => connect(url, o)));
}

// Sends `count` messages from `publisher` without waiting for each (they run in order on the
// server): to `group`, except every third one, which goes to everyone but the publisher.
async function publish(publisher, group, from, count) {
  const sends = [];
  for (let i = from; i < from + count; i++) {
    sends.push(i % 3 === 2 ? publisher.send('SendToOthers', payload(i)) : publisher.send('SendToGroup', group, payload(i)));
  }
  await withDeadline(Promise.all(sends), 10_000, 'the sends');
}

// The payloads a receiver has got, after checking each came from the publisher.
function received(inbox, publisher) {
  for (const [, sender] of inbox.calls) assert.equal(sender, publisher.connectionId);
  return inbox.calls.map(([msg]) => msg);
}

// Proves nothing more is on its way: a marker sent to everyone but the publisher must be the
// next call of every inbox (a repeated or late message would come before it).
async function expectMarkerNext(publisher, inboxes, marker) {
  const before = inboxes.map((inbox) => inbox.calls.length);
  await publisher.send('SendToOthers', marker);
  for (const [k, inbox] of inboxes.entries()) {
    const calls = await inbox.count(before[k] + 1);
    assert.equal(calls.length, before[k] + 1, `receiver ${k}: nothing after the marker`);
    assert.equal(calls[before[k]][0], marker, `receiver ${k}: the marker comes next`);
  }
}

test('a group and everyone-but-the-caller: every receiver, every transport and protocol, each message once and in order', async () => {
  const url = server.url('/hubs/test');
  const group = 'fanout-mixed';
  // Three of each kind of receiver: with 21 connections on three loops every loop is all
  // but certain to have receivers of several kinds.
  const kinds = [...COMBOS, ...STATEFUL];
  const options = [...kinds, ...kinds, ...kinds];
  const receivers = await openAll(url, options);
  const outsider = await connect(url, { transport: 'WebSockets', protocol: 'messagepack' });
  const publisher = await connect(url, { transport: 'WebSockets', protocol: 'json' });
  const all = [...receivers, outsider, publisher];
  try {
    const inboxes = receivers.map((c) => new Inbox(c, 'message'));
    const outsiderInbox = new Inbox(outsider, 'message');
    const publisherInbox = new Inbox(publisher, 'message');
    for (const c of receivers) await c.invoke('JoinGroup', group);
    const count = 120;
    await publish(publisher, group, 0, count);
    const everything = [...Array(count).keys()].map(payload);
    for (const [k, inbox] of inboxes.entries()) {
      await inbox.count(count);
      assert.deepEqual(received(inbox, publisher), everything, `receiver ${k} (${JSON.stringify(options[k])})`);
    }
    await outsiderInbox.count(count / 3);
    assert.deepEqual(received(outsiderInbox, publisher), everything.filter((_, i) => i % 3 === 2), 'the outsider: only the sends to everyone');
    await expectMarkerNext(publisher, [...inboxes, outsiderInbox], 'marker');
    // The publisher is in no group and excluded from its sends to everyone.
    await publisher.invoke('SendToConnection', publisher.connectionId, 'to myself');
    assert.deepEqual((await publisherInbox.count(1)).map(([m]) => m), ['to myself']);
  } finally {
    await Promise.all(all.map((c) => c.stop()));
  }
});

test('stateful receivers cut off while a group send goes on get the rest replayed: each message once, in order', async () => {
  const group = 'fanout-stateful';
  const proxy = await CuttableProxy.start(server.port);
  // Two of each protocol, whose new sockets after the cut land on any of the three loops
  // (a resume on another loop than the connection's takes another path out).
  const receivers = await openAll(proxy.url('/hubs/test'), [...STATEFUL, ...STATEFUL]);
  const publisher = await connect(server.url('/hubs/test'), { transport: 'WebSockets', protocol: 'messagepack' });
  let reconnecting = false;
  for (const c of receivers) c.onreconnecting(() => { reconnecting = true; });
  try {
    const ids = receivers.map((c) => c.connectionId);
    const inboxes = receivers.map((c) => new Inbox(c, 'message'));
    for (const c of receivers) await c.invoke('JoinGroup', group);
    await publish(publisher, group, 0, 40);
    for (const inbox of inboxes) await inbox.count(40);
    const accepted = proxy.accepted;
    assert.ok(await proxy.drop() > 0);
    // While the sockets are gone (or not yet seen to be): kept for replay, and more than
    // the replay buffer's 100 kB, so some wait for the client's Acks once it is back.
    await publish(publisher, group, 40, 40);
    await withDeadline((async () => {
      while (proxy.accepted < accepted + receivers.length) await new Promise((r) => setTimeout(r, 5));
    })(), 10_000, 'the clients to reconnect');
    await publish(publisher, group, 80, 40);
    const everything = [...Array(120).keys()].map(payload);
    for (const [k, inbox] of inboxes.entries()) {
      await inbox.count(120, 15_000);
      assert.deepEqual(received(inbox, publisher), everything, `receiver ${k}`);
    }
    await expectMarkerNext(publisher, inboxes, 'marker');
    for (const [k, c] of receivers.entries()) assert.equal(await c.invoke('GetConnectionId'), ids[k], 'the same connection');
    assert.equal(reconnecting, false);
  } finally {
    await Promise.all([...receivers, publisher].map((c) => c.stop()));
    await proxy.close();
  }
});

test('members that leave or go in any order: each send reaches exactly the members of that moment', async () => {
  const url = server.url('/hubs/test');
  const group = 'fanout-membership';
  const members = await openAll(url, [...COMBOS, ...STATEFUL]);
  const publisher = await connect(url, { transport: 'WebSockets', protocol: 'json' });
  const stopped = new Set();
  try {
    const inboxes = members.map((c) => new Inbox(c, 'message'));
    for (const c of members) await c.invoke('JoinGroup', group);
    const inGroup = new Set(members.keys());
    // Each step changes the membership, then a send must reach exactly the members left:
    // the first member leaves (another takes its place in the list), then the last one
    // joined, one in the middle goes away entirely, one comes back, and so on.
    const steps = [
      ['leave', 0], ['leave', 6], ['stop', 3], ['join', 0], ['leave', 1], ['leave', 5], ['join', 6], ['leave', 0],
      ['stop', 2], ['leave', 4], ['join', 1],
    ];
    for (const [n, [action, k]] of steps.entries()) {
      if (action === 'leave') {
        await members[k].invoke('LeaveGroup', group);
        inGroup.delete(k);
      } else if (action === 'join') {
        await members[k].invoke('JoinGroup', group);
        inGroup.add(k);
      } else {
        await members[k].stop();
        stopped.add(k);
        inGroup.delete(k);
      }
      const before = inboxes.map((inbox) => inbox.calls.length);
      await publisher.invoke('SendToGroup', group, `after step ${n}`);
      // A marker to every connection but the publisher, to know that nothing else is coming.
      await publisher.invoke('SendToOthers', `marker ${n}`);
      for (const [j, inbox] of inboxes.entries()) {
        if (stopped.has(j)) continue;
        const expected = inGroup.has(j) ? [`after step ${n}`, `marker ${n}`] : [`marker ${n}`];
        const calls = await inbox.count(before[j] + expected.length);
        assert.deepEqual(calls.slice(before[j]).map(([m]) => m), expected, `member ${j} after step ${n} (${action} ${k})`);
      }
    }
  } finally {
    await Promise.all([...members.filter((_, k) => !stopped.has(k)), publisher].map((c) => c.stop()));
  }
});

test('group sends from an application thread while members come and go on every loop: in order, never twice', async () => {
  const url = server.url('/hubs/test');
  const group = 'fanout-from-a-thread';
  // Members that stay for the whole run get every message; the others join, leave and
  // disconnect meanwhile, and get some of them, in order.
  const steady = await openAll(url, [...COMBOS, ...STATEFUL]);
  const sender = await connect(url, { transport: 'WebSockets', protocol: 'json' });
  const comers = [];
  try {
    const ticks = steady.map((c) => new Inbox(c, 'tick'));
    const done = steady.map((c) => new Inbox(c, 'ticksDone'));
    for (const c of steady) await c.invoke('JoinGroup', group);
    const count = 300;
    await sender.invoke('EmitToGroup', group, count, 5);
    const comerTicks = [];
    const kinds = [...COMBOS, ...STATEFUL];
    for (let round = 0; round < 3; round++) {
      const batch = await openAll(url, kinds);
      comers.push(...batch);
      const inboxes = batch.map((c) => new Inbox(c, 'tick'));
      comerTicks.push(...inboxes);
      await Promise.all(batch.map((c) => c.invoke('JoinGroup', group)));
      await Promise.all(batch.filter((_, k) => k % 2).map((c) => c.invoke('LeaveGroup', group)));
      await Promise.all(batch.filter((_, k) => k % 2 === 0).map((c) => c.stop()));
    }
    for (const [k, inbox] of done.entries()) assert.deepEqual(await inbox.next(20_000), [count], `steady member ${k}: done`);
    for (const [k, inbox] of ticks.entries()) {
      assert.deepEqual(inbox.calls.map(([i]) => i), [...Array(count).keys()], `steady member ${k}: every tick once, in order`);
    }
    for (const [k, inbox] of comerTicks.entries()) {
      const got = inbox.calls.map(([i]) => i);
      assert.ok(got.every((v, j) => j === 0 || v === got[j - 1] + 1), `member ${k} that came and went: a run without gaps or repeats: ${got}`);
    }
  } finally {
    await Promise.all([...steady, sender, ...comers].map((c) => c.stop()));
  }
});
