// Holds TCP connections open, as a client that wants a server's file descriptors would (plain JS, so an
// unprivileged user can run it with the system node):  node conn-hold.mjs HOST PORT COUNT
// Opens COUNT connections one after another and sends nothing; prints {"connected","closedByServer"} once
// all were tried and every second after; on SIGTERM destroys them and exits 0.
import { connect } from 'node:net';

const [host, port, countText] = process.argv.slice(2);
const count = Number(countText);
const stats = { tried: 0, connected: 0, closedByServer: 0, errors: 0 };
const sockets = [];

function next() {
  if (stats.tried === count) return;
  stats.tried++;
  const s = connect({ host, port: Number(port) });
  sockets.push(s);
  s.on('connect', () => {
    stats.connected++;
    next();
  });
  s.on('error', () => {
    stats.errors++;
    next();
  });
  s.on('close', (hadError) => {
    if (!hadError) stats.closedByServer++;
  });
}
next();
setInterval(() => console.log(JSON.stringify(stats)), 1000);
process.on('SIGTERM', () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
});
