// A hostile client for the accept-flood test (test/netns/accept-flood.test.ts), run in its own namespace:
//   node --import tsx test/support/accept-flood.ts HOST PORT CHURN_SRC CHURN_PER_S SLOW_SRCS SLOW_PER_SRC
// Two attacks on the control port at once, both without the password:
//   churn  from CHURN_SRC, CHURN_PER_S connections a second, each sending the preamble and a hello
//          length prefix that is random and too large, then closing (takes accept tokens as fast as they
//          appear; every refusal the router logs names a different length);
//   slow   from each of SLOW_SRCS (comma-separated), SLOW_PER_SRC connections kept open, each trickling the
//          real preamble one byte a second (slowloris: holds a pending-handshake slot until the router's
//          handshake timeout), reopened as soon as the router closes it.
// Prints {"event":"stats",…} every second; runs until SIGTERM, then destroys its sockets and exits 0.
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { encodePreamble } from '../../src/wire/preamble.js';

const [host, portText, churnSrc, churnRateText, slowSrcsText, slowPerSrcText] = process.argv.slice(2);
const port = Number(portText);
const churnRate = Number(churnRateText);
const slowSrcs = (slowSrcsText ?? '').split(',').filter((s) => s !== '');
const slowPerSrc = Number(slowPerSrcText ?? 0);
const PREAMBLE = encodePreamble();

const stats = { churnOpened: 0, churnConnected: 0, slowOpened: 0, slowOpen: 0, slowClosedByServer: 0, errors: 0 };
const live = new Set<Socket>();
let stopping = false;

function churnOne(): void {
  stats.churnOpened++;
  const s = connect({ host, port, localAddress: churnSrc });
  live.add(s);
  s.on('connect', () => {
    stats.churnConnected++;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(4097 + randomBytes(3).readUIntBE(0, 3));
    s.end(Buffer.concat([PREAMBLE, len]));
  });
  s.on('error', () => stats.errors++);
  s.on('close', () => live.delete(s));
}

function slowOne(src: string): void {
  if (stopping) return;
  stats.slowOpened++;
  const s = connect({ host, port, localAddress: src });
  live.add(s);
  let sent = 0;
  let tick: NodeJS.Timeout | undefined;
  s.on('connect', () => {
    stats.slowOpen++;
    tick = setInterval(() => {
      if (sent < PREAMBLE.length) s.write(PREAMBLE.subarray(sent, ++sent));
    }, 1000);
  });
  s.on('data', () => {});
  s.on('error', () => stats.errors++);
  s.on('close', (hadError) => {
    live.delete(s);
    if (tick) {
      clearInterval(tick);
      stats.slowOpen--;
      if (!hadError) stats.slowClosedByServer++;
    }
    setTimeout(() => slowOne(src), 50);
  });
}

for (const src of slowSrcs) for (let i = 0; i < slowPerSrc; i++) slowOne(src);
const churn = churnRate > 0 ? setInterval(() => {
  for (let i = 0; i < churnRate / 20; i++) churnOne();
}, 50) : undefined;
const report = setInterval(() => console.log(JSON.stringify({ event: 'stats', ...stats })), 1000);
process.on('SIGTERM', () => {
  stopping = true;
  clearInterval(report);
  if (churn) clearInterval(churn);
  for (const s of live) s.destroy();
  console.log(JSON.stringify({ event: 'stopped', ...stats }));
  process.exit(0);
});
