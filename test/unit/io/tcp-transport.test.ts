// TcpTransport on loopback (no root needed): listen/dial, byte streams, close semantics, error text.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { silentLogger } from '../../../src/core/logger.js';
import type { ByteStream } from '../../../src/core/ports.js';
import { TcpTransport, dialErrorMessage, listenErrorMessage } from '../../../src/io/tcp-transport.js';

const transport = new TcpTransport({ logger: silentLogger() });

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

function collect(s: ByteStream): { data: () => string; closed: Promise<Error | undefined> } {
  let buf = '';
  s.onData((c) => (buf += Buffer.from(c).toString()));
  return { data: () => buf, closed: new Promise((r) => s.onClose(r)) };
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('dial and accept: bytes flow both ways; addresses are plain IPv4', async () => {
  const inbound: ByteStream[] = [];
  const port = await freePort();
  const listener = await transport.listen('127.0.0.1', port, (s) => inbound.push(s));
  try {
    const a = await transport.dial('127.0.0.1', port, 2000);
    await until(() => inbound.length === 1);
    const b = inbound[0]!;
    assert.equal(a.remoteAddress, '127.0.0.1');
    assert.equal(a.remotePort, port);
    assert.equal(b.remoteAddress, '127.0.0.1');
    assert.equal(b.localAddress, '127.0.0.1');
    const ca = collect(a);
    const cb = collect(b);
    const msg = new Uint8Array(Buffer.from('hello'));
    a.write(msg);
    msg.fill(0); // write copied the bytes: reusing the buffer is safe
    b.write(Buffer.from('world'));
    await until(() => cb.data() === 'hello' && ca.data() === 'world');

    // close on one side: both onClose fire exactly once; later writes are no-ops
    let aCloses = 0;
    a.onClose(() => aCloses++);
    a.close();
    a.close();
    assert.equal(await cb.closed, undefined);
    await ca.closed;
    a.write(Buffer.from('ignored'));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(aCloses, 1);
    // registering after the close still gets exactly one call
    const late = await new Promise<Error | undefined>((r) => b.onClose(r));
    assert.equal(late, undefined);
  } finally {
    listener.close();
  }
});

test('data sent before the handler registers is not lost', async () => {
  let accepted: ByteStream | undefined;
  const port = await freePort();
  const listener = await transport.listen('127.0.0.1', port, (s) => (accepted = s));
  try {
    const a = await transport.dial('127.0.0.1', port, 2000);
    a.write(Buffer.from('early'));
    await until(() => accepted !== undefined);
    await new Promise((r) => setTimeout(r, 50));
    const c = collect(accepted!);
    await until(() => c.data() === 'early');
    a.close();
  } finally {
    listener.close();
  }
});

test('port in use: the Weave-style hint', async () => {
  const port = await freePort();
  const first = await transport.listen('127.0.0.1', port, () => undefined);
  try {
    await assert.rejects(transport.listen('127.0.0.1', port, () => undefined), {
      code: 'ERR_HOST_NETWORK',
      message: `port ${port} is in use; is another tsweave or weave router running?`,
    });
  } finally {
    first.close();
  }
});

test('dial errors read like Go: connection refused', async () => {
  const port = await freePort();
  await assert.rejects(transport.dial('127.0.0.1', port, 2000), {
    code: 'ERR_HOST_NETWORK',
    message: `dial tcp4 127.0.0.1:${port}: connection refused`,
  });
});

test('error message helpers', () => {
  const e = (code: string) => Object.assign(new Error(code), { code });
  assert.equal(dialErrorMessage('1.2.3.4', 6783, e('ECONNREFUSED')), 'dial tcp4 1.2.3.4:6783: connection refused');
  assert.equal(dialErrorMessage('host1', 6783, e('ENOTFOUND')), 'dial tcp host1:6783: lookup host1: no such host');
  assert.equal(dialErrorMessage('1.2.3.4', 6783, e('EHOSTUNREACH')), 'dial tcp4 1.2.3.4:6783: no route to host');
  assert.equal(dialErrorMessage('1.2.3.4', 6783, e('ETIMEDOUT')), 'dial tcp4 1.2.3.4:6783: i/o timeout');
  assert.equal(listenErrorMessage('0.0.0.0', 6783, e('EADDRINUSE')), 'port 6783 is in use; is another tsweave or weave router running?');
  assert.match(listenErrorMessage('10.9.9.9', 6783, e('EADDRNOTAVAIL')), /is 10\.9\.9\.9 an address of this host\?/);
});

test('dial with a bad port or an IPv6 target fails with a Go-style TsweaveError, never a raw throw (issue 10.1)', async () => {
  await assert.rejects(transport.dial('127.0.0.1', 70000, 1000), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_HOST_NETWORK');
    assert.equal(err.message, 'dial tcp4 127.0.0.1:70000: invalid port');
    return true;
  });
  // A link-local IPv6 target without a zone cannot be connected to (EINVAL); the host is bracketed as in Go.
  await assert.rejects(transport.dial('fe80::1', 6783, 1000), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_HOST_NETWORK');
    assert.equal(err.message, 'dial tcp [fe80::1]:6783: invalid argument');
    return true;
  });
});

test('writing to a stream whose peer has gone is a no-op and the close stays clean (issue 10.1 audit)', async () => {
  const inbound: ByteStream[] = [];
  const port = await freePort();
  const listener = await transport.listen('127.0.0.1', port, (s) => inbound.push(s));
  try {
    const a = await transport.dial('127.0.0.1', port, 2000);
    const ca = collect(a);
    await until(() => inbound.length === 1);
    const b = inbound[0]!;
    collect(b);
    b.close(); // FIN to a: a answers with end(); its writable side is finished
    await until(() => (a as unknown as { socket: { writableEnded: boolean } }).socket.writableEnded);
    a.write(Buffer.from('late'));
    assert.equal(await ca.closed, undefined, 'a clean close, not a write-after-end error');
    a.write(Buffer.from('later'));
  } finally {
    listener.close();
  }
});
