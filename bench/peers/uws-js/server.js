'use strict';
// Peer server for scripts/bench: uWebSockets.js (the native addon of the npm package
// @trufflesuite/uws-js-unofficial, a prebuilt uWS.js v20.30). It loads the addon itself:
// the package's entry point silently falls back to a pure-JS imitation when the addon does
// not load, and that would not be uWS.js at all.
// /ws/echo sends every message back with its opcode; /ws/broadcast relays every message
// to every client of the endpoint, the sender included (uWS pub/sub). No compression.
// Usage: node server.js PORT
const path = require('node:path');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.js PORT');
  process.exit(2);
}

const pkg = path.dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
const addon = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
const uWS = require(path.join(pkg, 'binaries', addon));

const common = {
  compression: uWS.DISABLED,
  maxPayloadLength: 16 * 1024 * 1024,
  // Generous, so that a burst of broadcasts is queued rather than skipped for a subscriber.
  maxBackpressure: 16 * 1024 * 1024,
  idleTimeout: 120,
};

const app = uWS.App();

app
  .ws('/ws/echo', {
    ...common,
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary);
    },
  })
  .ws('/ws/broadcast', {
    ...common,
    open: (ws) => {
      ws.subscribe('broadcast');
    },
    message: (ws, message, isBinary) => {
      app.publish('broadcast', message, isBinary);
    },
  })
  .any('/*', (res) => {
    res.writeStatus('404 Not Found').end();
  })
  .listen('127.0.0.1', port, (token) => {
    if (!token) {
      console.error(`uws-js peer: cannot listen on 127.0.0.1:${port}`);
      process.exit(1);
    }
  });
process.on('SIGTERM', () => process.exit(0));
