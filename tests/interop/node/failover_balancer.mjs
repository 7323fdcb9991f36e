// A failover load balancer for the Node tests that kill a node under connected clients.

import net from 'node:net';

// A TCP load balancer that sends each new connection to the first of `ports` that
// accepts it, as a failover balancer does with health checks at connect time: while A
// lives everything goes to A, once A refuses, to B. hold() keeps new connections waiting
// (accepted, nothing forwarded) until release().
export class FailoverBalancer {
  static async start(ports) {
    const b = new FailoverBalancer(ports);
    b.server.listen(0, '127.0.0.1');
    await new Promise((resolve) => b.server.once('listening', resolve));
    b.port = b.server.address().port;
    return b;
  }

  constructor(ports) {
    this.ports = ports;
    this.routed = new Map(ports.map((p) => [p, 0]));  // connections forwarded to each port
    this.held = null;
    this.sockets = new Set();
    this.server = net.createServer((client) => {
      client.pause();
      this.#track(client);
      if (this.held) this.held.push(client);
      else this.#route(client);
    });
  }

  url(p) {
    return `http://127.0.0.1:${this.port}${p}`;
  }

  hold() {
    this.held = [];
  }

  release() {
    const waiting = this.held;
    this.held = null;
    for (const client of waiting) this.#route(client);
    return waiting.length;
  }

  async close() {
    this.held = null;
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  #track(socket) {
    this.sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => this.sockets.delete(socket));
  }

  async #route(client) {
    for (const port of this.ports) {
      let upstream;
      try {
        upstream = await new Promise((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1');
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
      } catch {
        continue;  // refused: that node is down, try the next
      }
      this.#track(upstream);
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      this.routed.set(port, this.routed.get(port) + 1);
      // Either side gone (a killed node's sockets close or reset): the other goes too.
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      return;
    }
    client.destroy();
  }
}
