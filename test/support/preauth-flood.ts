// A hostile client for the pre-authentication memory test (issue 11.1), run in its own namespace:
//   node --import tsx test/support/preauth-flood.ts HOST PORT COUNT SRC1,SRC2,… BYTES SPACING_MS
// opens COUNT connections to HOST:PORT, one every SPACING_MS (under the router's accept rate, so each is
// admitted), round-robin over the source addresses, each sending a plausible
// preamble ‖ hello (encrypted, random public key) and then a frame header announcing 10 MiB, followed by
// up to BYTES of body in 64 KiB pieces as fast as the socket takes them. Prints one JSON line
// {"event":"announced",…} once every connection has sent its announcement, then every second a
// {"event":"stats",…} line. Runs until SIGTERM, then destroys its sockets and exits 0.
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { encodeHello } from '../../src/wire/hello.js';
import { encodePreamble } from '../../src/wire/preamble.js';
import type { PeerName } from '../../src/core/types.js';

const [host, portText, countText, sources, bytesText, spacingText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const srcs = (sources ?? '').split(',').filter((s) => s !== '');
const bodyBytes = Number(bytesText);
const spacingMs = Number(spacingText ?? 0);
const ANNOUNCED = 10 * 1024 * 1024;
const PIECE = Buffer.alloc(64 * 1024, 0x5a);

const stats = { connected: 0, announced: 0, closedByServer: 0, errors: 0, bodySent: 0 };
const sockets: Socket[] = [];

function prefix(): Buffer {
  const name = [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':') as PeerName;
  const hello = encodeHello({
    name,
    nickname: 'flood',
    uid: String(1 + randomBytes(4).readUInt32BE()),
    connId: randomBytes(4).readUInt32BE(),
    encrypted: true,
    publicKey: randomBytes(32),
    listenPort: 6783,
    sessionIndex: randomBytes(4).readUInt32BE(),
  });
  const len = Buffer.alloc(4);
  len.writeUInt32BE(ANNOUNCED);
  return Buffer.concat([encodePreamble(), hello, len]);
}

function open(i: number): void {
  const s = connect({ host, port, localAddress: srcs[i % srcs.length] });
  sockets.push(s);
  let sent = 0;
  let open = true;
  const pump = (): void => {
    while (open && sent < bodyBytes) {
      sent += PIECE.length;
      stats.bodySent += PIECE.length;
      if (!s.write(PIECE)) return; // wait for 'drain'
    }
  };
  s.on('connect', () => {
    stats.connected++;
    s.write(prefix(), () => {
      stats.announced++;
      if (stats.announced === count) console.log(JSON.stringify({ event: 'announced', ...stats }));
    });
    pump();
  });
  s.on('drain', pump);
  s.on('data', () => {}); // the router's preamble ‖ hello ‖ first message
  s.on('error', () => stats.errors++);
  s.on('close', () => {
    if (open) stats.closedByServer++;
    open = false;
  });
}

for (let i = 0; i < count; i++) setTimeout(() => open(i), i * spacingMs);
const tick = setInterval(() => console.log(JSON.stringify({ event: 'stats', ...stats })), 1000);
process.on('SIGTERM', () => {
  clearInterval(tick);
  for (const s of sockets) s.destroy();
  console.log(JSON.stringify({ event: 'stopped', ...stats }));
  process.exit(0);
});
