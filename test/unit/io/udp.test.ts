// The node:dgram data-plane socket (addon: null, so no native code loads): a throwing consumer and sends
// on a closed socket never become uncaught exceptions (issue 10.1).
import { test } from 'vitest';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { createLogger, silentLogger } from '../../../src/core/logger.js';
import { ipv4ToU32, openUdp } from '../../../src/io/udp.js';

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('udp (dgram): a throwing datagram handler is counted; later datagrams still arrive', async () => {
  const sock = await openUdp(0, { logger: silentLogger(), addon: null, bindAddr: '127.0.0.1', rcvbufBytes: 0, sndbufBytes: 0 });
  const sender = dgram.createSocket('udp4');
  try {
    let calls = 0;
    sock.onDatagrams(() => {
      calls++;
      if (calls === 1) throw new Error('consumer bug');
    });
    sender.send(Buffer.from('one'), sock.port, '127.0.0.1');
    await until(() => calls === 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(sock.stats().receiveErrors, 1);
    sender.send(Buffer.from('two'), sock.port, '127.0.0.1');
    await until(() => calls === 2);
  } finally {
    sender.close();
    sock.close();
  }
});

test('udp (dgram): send to port 0 is counted as an error; send and close after close are no-ops', async () => {
  const sock = await openUdp(0, { logger: silentLogger(), addon: null, bindAddr: '127.0.0.1', rcvbufBytes: 0, sndbufBytes: 0 });
  const buf = Buffer.from('x');
  sock.send(buf, 0, 1, ipv4ToU32('127.0.0.1'), 0); // ERR_SOCKET_BAD_PORT, thrown synchronously by dgram
  assert.equal(sock.stats().sendErrors, 1);
  sock.close();
  sock.send(buf, 0, 1, ipv4ToU32('127.0.0.1'), 9);
  sock.close();
  assert.equal(sock.stats().sent, 0);
});

test('udp (dgram): a handler that throws on every datagram (hostile input it cannot take) logs once, counts each', async () => {
  const lines: string[] = [];
  const sock = await openUdp(0, { logger: createLogger('info', { write: (l: string) => void lines.push(l) }), addon: null, bindAddr: '127.0.0.1', rcvbufBytes: 0, sndbufBytes: 0 });
  const sender = dgram.createSocket('udp4');
  try {
    let calls = 0;
    sock.onDatagrams(() => {
      calls++;
      throw new Error(`cannot take datagram ${calls}`);
    });
    for (let i = 0; i < 200; i++) {
      sender.send(Buffer.from([i]), sock.port, '127.0.0.1');
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 2)); // separate batches
    }
    await until(() => sock.stats().receiveErrors >= 10);
    await new Promise((r) => setTimeout(r, 50));
    const errors = sock.stats().receiveErrors;
    assert.ok(errors >= 10, `${errors} failed batches counted`);
    assert.equal(lines.filter((l) => l.includes('udp datagram handler threw')).length, 1, `${errors} batches`);
  } finally {
    sender.close();
    sock.close();
  }
});
