// Traffic generator for test/netns/fastpath-contention.test.ts, run as its own process so the load it
// makes never shares the measured event loop. Two modes (argv[2]):
//
//   egress  SRC DST PORT                     UDP datagrams of 1200 bytes from SRC to DST:PORT as fast as
//                                            the kernel takes them (they leave through the fast path's TAP)
//   ingress PORT KEYHEX SALTHEX RIDX ORIGIN DST DSTMAC SRCMAC
//                                            sealed DATA datagrams (wire/data-packet.ts layout, AES-256-GCM,
//                                            fresh counters) to 127.0.0.1:PORT, each carrying one
//                                            Ethernet/IPv4/UDP frame DSTMAC <- SRCMAC
//
// Runs until killed.
import { createCipheriv } from 'node:crypto';
import dgram from 'node:dgram';

const [mode, ...a] = process.argv.slice(2);
const sock = dgram.createSocket('udp4');
const BURST = 64;

if (mode === 'egress') {
  const [src, dst, port] = a;
  const payload = Buffer.alloc(1200, 0x5a);
  sock.bind({ address: src }, () => {
    const go = () => {
      let left = BURST;
      for (let i = 0; i < BURST; i++) sock.send(payload, Number(port), dst, () => --left === 0 && setImmediate(go));
    };
    go();
  });
} else if (mode === 'ingress') {
  const [port, keyHex, saltHex, ridx, origin, dst, dstMac, srcMac] = a;
  const key = Buffer.from(keyHex, 'hex');
  const salt = Buffer.from(saltHex, 'hex');
  const frame = Buffer.alloc(14 + 20 + 8 + 1100);
  Buffer.from(dstMac.replace(/:/g, ''), 'hex').copy(frame, 0);
  Buffer.from(srcMac.replace(/:/g, ''), 'hex').copy(frame, 6);
  frame.writeUInt16BE(0x0800, 12);
  frame[14] = 0x45;
  frame.writeUInt16BE(frame.length - 14, 16);
  frame[22] = 64;
  frame[23] = 17;
  frame.writeUInt32BE(0x0a4e0002, 26); // 10.78.0.2
  frame.writeUInt32BE(0x0a4e0001, 30); // 10.78.0.1
  let sum = 0;
  for (let j = 14; j < 34; j += 2) sum += frame.readUInt16BE(j);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  frame.writeUInt16BE(~sum & 0xffff, 24);
  frame.writeUInt16BE(5555, 34);
  frame.writeUInt16BE(9, 36); // discard: nobody listens, the kernel drops it after the TAP
  frame.writeUInt16BE(frame.length - 34, 38);
  const body = Buffer.alloc(14 + frame.length);
  body.writeUIntBE(Number(origin), 0, 6);
  body.writeUIntBE(Number(dst), 6, 6);
  body.writeUInt16BE(frame.length, 12);
  frame.copy(body, 14);
  let counter = 1_000_000;
  const datagram = () => {
    const d = Buffer.alloc(14 + body.length + 16);
    d[0] = 1;
    d.writeUInt32BE(Number(ridx), 2);
    counter++;
    d.writeUInt32BE(Math.floor(counter / 0x100000000), 6);
    d.writeUInt32BE(counter >>> 0, 10);
    const nonce = Buffer.concat([salt, d.subarray(6, 14)]);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(d.subarray(0, 14));
    c.update(body).copy(d, 14);
    c.final();
    c.getAuthTag().copy(d, 14 + body.length);
    return d;
  };
  const go = () => {
    let left = BURST;
    for (let i = 0; i < BURST; i++) sock.send(datagram(), Number(port), '127.0.0.1', () => --left === 0 && setImmediate(go));
  };
  go();
} else {
  process.stderr.write(`fastpath-load: unknown mode ${mode}\n`);
  process.exit(2);
}
