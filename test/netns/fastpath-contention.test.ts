// The fast path's tables under load (issue 11.7): while both I/O threads are saturated (a process
// floods the TAP with frames for a known remote MAC, another floods the UDP socket with sealed
// datagrams for a known local MAC), the JS thread keeps learning MACs, which takes the tables' write
// lock. The I/O threads must hold the lock only for lookups, never across sealing, sendmmsg or TAP
// writes, so the event loop is never held up behind them: its delay (perf_hooks) stays bounded and the
// time spent waiting in learn() stays small. Runs as root inside a network namespace it creates (inner-netns.ts).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from 'vitest';

import { fastPathModules } from '../support/fastpath-modules.js';
import { splitNetnsRun } from '../support/inner-netns.js';
import { UNIFIED } from '../support/fastpath-mode.js';

await splitNetnsRun(import.meta.url, 'TSWEAVE_FASTPATH_CONTENTION_NETNS', 'fpcontend', inner);

async function inner(ns: string): Promise<void> {
  const { addon, NativeFastPath, openTap, NativeUdpSocket, silentLogger, Overlay, ip } = await fastPathModules(ns);
  const LOAD = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'fastpath-load.mjs');
  const LOOPBACK = 0x7f000001;
  const LOCAL = 0x0a0000000001;
  const REMOTE = 0x0b0000000002;
  const MTU = 1376;
  const LOCAL_INDEX = 0x1111;
  const TAP = 'tswfc0';
  const PEER_MAC = '02:00:00:00:00:02';
  const macNum = (s: string): number => parseInt(s.replace(/:/g, ''), 16);
  const keys = { sendKey: randomBytes(32), sendSalt: randomBytes(4), recvKey: randomBytes(32), recvSalt: randomBytes(4) };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  describe('fast path tables under load', () => {
    let tap: ReturnType<typeof openTap>;
    let tapMac: string;
    let sock: InstanceType<typeof NativeUdpSocket>;
    let sink: InstanceType<typeof NativeUdpSocket>;
    let fast: InstanceType<typeof NativeFastPath>;
    const loads: ChildProcess[] = [];

    beforeAll(() => {
      tap = openTap(TAP, { logger: silentLogger() });
      writeFileSync(`/proc/sys/net/ipv6/conf/${TAP}/disable_ipv6`, '1');
      ip('link', 'set', TAP, 'mtu', String(MTU), 'up');
      ip('addr', 'add', '10.78.0.1/24', 'dev', TAP);
      ip('neigh', 'replace', '10.78.0.2', 'lladdr', PEER_MAC, 'dev', TAP, 'nud', 'permanent');
      tapMac = (JSON.parse(ip('-j', 'link', 'show', TAP)) as Array<{ address: string }>)[0]!.address;
      sock = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: silentLogger() });
      sink = new NativeUdpSocket(addon, LOOPBACK, 0, { logger: silentLogger(), gro: false }); // never read
      fast = new NativeFastPath({
        addon,
        logger: silentLogger(),
        tapFd: tap.fd,
        tapOffload: tap.offload,
        udpFd: sock.fd,
        localPeer: LOCAL,
        maxDatagramBytes: Overlay.maxDatagramBytes(MTU),
        unified: UNIFIED,
      });
      fast.start(() => {}, () => {});
      fast.addSession({ peer: REMOTE, localIndex: LOCAL_INDEX, remoteIndex: 0x2222, remoteAddr: LOOPBACK, remotePort: sink.port, lastCounter: 0, keys });
      fast.learn(macNum(tapMac), LOCAL);
      fast.learn(macNum(PEER_MAC), REMOTE);
      fast.setEligible(REMOTE, true);
    });
    afterAll(() => {
      for (const c of loads) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
      fast?.stop();
      sock?.close();
      sink?.close();
      tap?.close();
    });

    it('learning MACs while both I/O threads are saturated never stalls the event loop', async () => {
      const run = (...args: string[]): void => {
        const c = spawn(process.execPath, [LOAD, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
        loads.push(c);
      };
      run('egress', '10.78.0.1', '10.78.0.2', '9');
      run('ingress', String(sock.port), keys.recvKey.toString('hex'), keys.recvSalt.toString('hex'), String(LOCAL_INDEX),
        String(REMOTE), String(LOCAL), tapMac, PEER_MAC);
      await sleep(1500); // both generators up and running
      const before = fast.stats();
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      let learnt = 0;
      let slowestLearnMs = 0;
      const learnMs: number[] = [];
      const base = 0x020000100000;
      const timer = setInterval(() => {
        for (let k = 0; k < 10; k++) {
          const t = performance.now();
          fast.learn(base + (learnt++ % 1000), REMOTE);
          const d = performance.now() - t;
          learnMs.push(d);
          slowestLearnMs = Math.max(slowestLearnMs, d);
        }
      }, 1);
      await sleep(5000);
      clearInterval(timer);
      delay.disable();
      const st = fast.stats();
      const delta = (k: string): number => (st[k] as number) - (before[k] as number);
      const p99 = delay.percentile(99) / 1e6;
      const max = delay.max / 1e6;
      learnMs.sort((x, y) => x - y);
      const blockedMs = learnMs.reduce((a, b) => a + b, 0);
      const lp = (q: number): string => learnMs[Math.floor(q * (learnMs.length - 1))]!.toFixed(3);
      const report = `learn p50 ${lp(0.5)} p99 ${lp(0.99)} p999 ${lp(0.999)} ms, blocked ${blockedMs.toFixed(0)} ms in learn; learnt ${learnt}, slowest learn ${slowestLearnMs.toFixed(1)} ms, loop delay p99 ${p99.toFixed(1)} ms max ${max.toFixed(1)} ms; ` +
        `egress fast ${delta('egressFramesFast')}, ingress fast ${delta('ingressFramesFast')}`;
      process.stderr.write(`fastpath-contention: ${report}\n`);
      assert.ok(delta('egressFramesFast') > 5000, `the egress thread was loaded: ${report}`);
      assert.ok(delta('ingressFramesFast') > 5000, `the ingress thread was loaded: ${report}`);
      assert.ok(learnt > 1000, `the JS thread kept learning: ${report}`);
      assert.ok(p99 < 50, `event loop delay p99 under 50 ms: ${report}`);
      // The sharper measure: how long the JS thread sat in learn() waiting for the write lock. With the
      // readers holding it across sealing, sendmmsg and TAP writes it was about 1 s of these 5 s on a
      // 2-core box (single learns up to 66 ms); with lookup-only read sections about 20 ms.
      assert.ok(blockedMs < 250, `under 250 ms of 5 s blocked in learn(): ${report}`);
    });
  });
}
