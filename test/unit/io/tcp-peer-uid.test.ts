// Finding the owner of a loopback TCP connection in /proc/net/tcp: the format, and this process's own
// connection read back from the kernel.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { findSocketUid, procTcpEndpoint, tcpPeerUid } from '../../../src/io/tcp-peer-uid.js';

const SAMPLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1A80 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0 100 0 0 10 0
   1: 0100007F:1A80 0100007F:A2C4 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0 20 4 30 10 -1
   2: 0100007F:A2C4 0100007F:1A80 01 00000000:00000000 00:00000000 00000000 65534        0 1003 1 0 20 4 30 10 -1
`;

test('addresses and ports as /proc/net/tcp prints them', () => {
  assert.equal(procTcpEndpoint({ address: '127.0.0.1', port: 6784 }), '0100007F:1A80');
  assert.equal(procTcpEndpoint({ address: '::ffff:10.1.2.3', port: 1 }), '0302010A:0001');
  assert.equal(procTcpEndpoint({ address: '::1', port: 1 }), undefined);
});

test("the client's row, not the server's accepted socket, gives the uid", () => {
  const server = { address: '127.0.0.1', port: 6784 };
  assert.equal(findSocketUid(SAMPLE, { address: '127.0.0.1', port: 0xa2c4 }, server), 65534);
  assert.equal(findSocketUid(SAMPLE, { address: '127.0.0.1', port: 0xa2c5 }, server), undefined);
  assert.equal(findSocketUid('garbage\n\n', { address: '127.0.0.1', port: 1 }, server), undefined);
});

test("a real loopback connection's owner is this process's uid", async () => {
  let client: Socket | undefined;
  const accepted = new Promise<Socket>((resolve) => {
    const srv = createServer((s) => {
      srv.close();
      resolve(s);
    });
    srv.listen(0, '127.0.0.1', () => {
      client = connect((srv.address() as AddressInfo).port, '127.0.0.1');
    });
  });
  const s = await accepted;
  const uid = await tcpPeerUid({ address: s.remoteAddress!, port: s.remotePort! }, { address: s.localAddress!, port: s.localPort! });
  s.destroy();
  client?.destroy();
  assert.equal(uid, process.getuid!());
});
