#!/usr/bin/env node
// A plain TCP forwarder: node tcp-forwarder.mjs <listen host:port> <target host:port>.
// The proxy test runs it in the DMZ so that the isolated zone reaches Parley's web and signaling
// (HTTP and WebSocket) the way a customer's DMZ reverse proxy would, while media goes through TURN.
import net from 'node:net';

const [listen, target] = process.argv.slice(2);
if (!listen || !target) {
  console.error('usage: tcp-forwarder.mjs <listen host:port> <target host:port>');
  process.exit(64);
}
const split = (hp) => {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
};
const from = split(listen);
const to = split(target);
const server = net.createServer((client) => {
  const upstream = net.connect(to.port, to.host);
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
});
server.listen(from.port, from.host);
