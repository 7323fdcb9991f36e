'use strict';
// Peer server for scripts/bench: Node `ws` on one event loop.
// /ws/echo sends every message back with its opcode; /ws/broadcast relays every message
// to every client of the endpoint, the sender included. No compression.
// Usage: node server.js PORT
const http = require('node:http');
const { WebSocket, WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.js PORT');
  process.exit(2);
}

const options = { noServer: true, perMessageDeflate: false, clientTracking: false };
const echo = new WebSocketServer(options);
const broadcast = new WebSocketServer(options);
const subscribers = new Set();

echo.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
});

broadcast.on('connection', (socket) => {
  subscribers.add(socket);
  socket.on('message', (data, isBinary) => {
    for (const peer of subscribers) {
      if (peer.readyState === WebSocket.OPEN) peer.send(data, { binary: isBinary });
    }
  });
  socket.on('close', () => subscribers.delete(socket));
});

const server = http.createServer((req, res) => {
  res.writeHead(400).end();
});

server.on('upgrade', (req, socket, head) => {
  const target = req.url === '/ws/echo' ? echo : req.url === '/ws/broadcast' ? broadcast : null;
  if (!target) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  target.handleUpgrade(req, socket, head, (ws) => target.emit('connection', ws, req));
});

server.listen({ host: '127.0.0.1', port, backlog: 4096 });
process.on('SIGTERM', () => process.exit(0));
