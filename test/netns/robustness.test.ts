// Issue 10.2-10.4 on the real kernel, through the real CLI: a full data dir (a small tmpfs), a router
// SIGKILLed in the middle of 20 concurrent attaches, and a corrupt state file.
//
//   h1 (router, data dir on a 4 MB tmpfs) — containers c1, c2, c3, d1 (full disk; d1 named, then dies)
//   h2 (router, data dir in /tmp)          — k0..k19 attached concurrently while the router is killed, n0..n4 after
import { afterAll, beforeAll, describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireRoot, sh, type Netns } from '../support/netns.js';
import { Cluster, waitFor, type Host } from '../support/cluster.js';

requireRoot('the robustness real-kernel test');

const c = new Cluster('rb');
let h1: Host, h2: Host;

beforeAll(async () => {
  await c.init();
  h1 = await c.addHost(1);
  h2 = await c.addHost(2);
  await mkdir(h1.dataDir, { recursive: true });
  await sh('mount', '-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tsweave-test', h1.dataDir);
  // Lazy: the router may still have its log open; cleanups run in reverse, so this goes before the rm of the dir.
  c.lab.onCleanup(() => sh('umount', '-l', h1.dataDir));
});

afterAll(async () => {
  await c.cleanup();
});

/** Addresses (without prefix, as attach prints them) on a container's ethwe; none: no interface. */
async function ethwe(ns: Netns): Promise<string[]> {
  const r = await c.run(ns, 'ip', '-j', '-4', 'addr', 'show', 'dev', 'ethwe');
  if (r.code !== 0) return [];
  return (JSON.parse(r.stdout) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>).flatMap((l) => l.addr_info.map((a) => a.local));
}

async function api(h: Host, method: string, path: string, body?: unknown): Promise<{ code: number; body: string }> {
  const args = ['-s', '-o', '-', '-w', '\n%{http_code}', '-X', method, `http://127.0.0.1:6784${path}`];
  if (body !== undefined) args.push('-H', 'content-type: application/json', '-d', JSON.stringify(body));
  const r = await c.run(h.ns, 'curl', ...args);
  const nl = r.stdout.lastIndexOf('\n');
  return { code: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl) };
}

/** Fills the filesystem of `dir` with one file; returns its path. */
async function fill(dir: string): Promise<string> {
  const path = join(dir, 'filler');
  const fh = await open(path, 'w');
  try {
    // Big chunks, then smaller ones for the last partial pages.
    for (const size of [64 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) await fh.write(chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    await fh.close();
  }
  return path;
}

describe('a full data dir (10.2)', () => {
  let c1: Netns, c2: Netns, c3: Netns;
  let a1 = '';

  test('attach fails with the reason and leaves nothing behind; the router keeps answering and logging does not block', async () => {
    c1 = await c.addContainer('c1');
    c2 = await c.addContainer('c2');
    c3 = await c.addContainer('c3');
    await c.ok(h1, 'launch', '--nickname', 'h1');
    a1 = (await c.ok(h1, 'attach', c1.name)).trim();
    const filler = await fill(h1.dataDir);
    try {
      const r = await c.tsweave(h1, 'attach', c2.name);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr.trim(), /^tsweave: attach of .* undone: cannot record the .*ENOSPC/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.deepEqual(await ethwe(c2), [], 'the failed attach left an interface or address in the container');
      // Lots of log lines while nothing can be written: each API call below logs; none may stall.
      for (let i = 0; i < 20; i++) assert.equal((await c.tsweave(h1, 'attach', c2.name)).code, 1);
      for (let i = 0; i < 5; i++) assert.equal((await c.tsweave(h1, 'status')).code, 0);
      const stats = JSON.parse((await api(h1, 'GET', '/stats')).body) as { log: { dropped: number; writeErrors: number } };
      assert.ok(stats.log.dropped > 0, `log lines dropped while full: ${JSON.stringify(stats.log)}`);
      assert.equal((await c.ok(h1, 'ps')).includes(c2.name), false, 'the failed attach is in ps');
    } finally {
      await rm(filler);
    }
    // Space back: the router is still there, and the next attach gets a fresh address.
    assert.ok(await c.routerPid(h1));
    const a2 = (await c.ok(h1, 'attach', c2.name)).trim();
    assert.notEqual(a2, a1);
    assert.deepEqual(await ethwe(c2), [a2]);
  });

  test('after a relaunch no address is handed out twice', async () => {
    await c.ok(h1, 'stop');
    await c.ok(h1, 'launch', '--nickname', 'h1');
    const a3 = (await c.ok(h1, 'attach', c3.name)).trim();
    const held = [...(await ethwe(c1)), ...(await ethwe(c2))];
    assert.equal(held.includes(a3), false, `${a3} given again (held: ${held.join(' ')})`);
  });

  test('names: dns-add is all or nothing; a named container dying on a full disk does not end the router, nor comes back', async () => {
    const d1 = await c.addContainer('d1');
    await c.ok(h1, 'attach', '--hostname', 'd1.weave.local', d1.name);
    const filler = await fill(h1.dataDir);
    try {
      const r = await c.tsweave(h1, 'dns-add', '10.32.9.9', '-h', 'late.weave.local');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /ENOSPC/);
      assert.equal((await c.ok(h1, 'dns-lookup', 'late.weave.local')).trim(), '', 'the failed dns-add left its name');
      await c.run(h1.ns, 'ip', 'netns', 'del', d1.name);
      await waitFor('d1 gone from weaveDNS', async () => (await c.ok(h1, 'dns-lookup', 'd1.weave.local')).trim() === '', 30_000);
      assert.ok(await c.routerPid(h1), 'the router died');
    } finally {
      await rm(filler);
    }
    // The write is tried again: once it went through, a restart does not bring the dead container's name back.
    const freed = Date.now();
    await waitFor('the dns entries written again', async () => (await stat(join(h1.dataDir, 'dns-entries'))).mtimeMs > freed, 30_000, 500);
    await c.ok(h1, 'stop');
    await c.ok(h1, 'launch', '--nickname', 'h1');
    assert.equal((await c.ok(h1, 'dns-lookup', 'd1.weave.local')).trim(), '');
  }, 120_000);

  test('launch on a full data dir fails at once with one line saying why', async () => {
    await c.ok(h1, 'stop');
    const filler = await fill(h1.dataDir);
    try {
      const t0 = Date.now();
      const r = await c.tsweave(h1, 'launch', '--nickname', 'h1');
      const took = Date.now() - t0;
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^tsweave: router failed to start: .*(ENOSPC|no space)/i);
      assert.ok(took < 40_000, `launch took ${took} ms (it waits 60 s for a router that never answers)`);
      await waitFor('the failed router to exit', async () => (await c.tsweave(h1, 'status')).code === 1);
    } finally {
      await rm(filler);
    }
  });
});

const kContainers: Netns[] = [];

describe('SIGKILL during 20 concurrent attaches (10.3)', () => {
  const ks = kContainers;

  beforeAll(async () => {
    for (let i = 0; i < 20; i++) ks.push(await c.addContainer(`k${i}`));
    await c.ok(h2, 'launch', '--nickname', 'h2');
  });

  test('every address a container holds is claimed and in ps after the relaunch; new attaches never get one', async () => {
    // One process in h2's namespace fires the 20 attaches at the API and prints each answer as it comes.
    const script = `
      // Changes go through the router's unix socket (root only); its default path is per network namespace.
      const http = await import('node:http');
      const { statSync } = await import('node:fs');
      const socketPath = '/run/tsweave/netns-' + statSync('/proc/self/ns/net').ino + '/api.sock';
      const names = process.argv.slice(1);
      await Promise.all(names.map((n) => new Promise((done) => {
        const req = http.request({ socketPath, path: '/attach', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => {
            if (res.statusCode === 200) console.log('ok ' + n + ' ' + JSON.parse(text).addrs.join(','));
            done();
          });
        });
        req.on('error', () => done());
        req.end(JSON.stringify({ container: n, addrs: [] }));
      })));`;
    const child = spawn('ip', ['netns', 'exec', h2.ns.name, process.execPath, '--input-type=module', '-e', script, ...ks.map((k) => k.name)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const answered = new Map<string, string>();
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      buf += d;
      for (let nl; (nl = buf.indexOf('\n')) >= 0; buf = buf.slice(nl + 1)) {
        const m = /^ok (\S+) (\S+)$/.exec(buf.slice(0, nl));
        if (m) answered.set(m[1]!, m[2]!.replace(/\/\d+$/, ''));
      }
    });
    const done = new Promise((r) => child.on('exit', r));
    // Kill it in the middle: as soon as one container has its address in the kernel (one shell polls all 20).
    const poll = `for n in ${ks.map((k) => k.name).join(' ')}; do ip -n $n -o -4 addr show dev ethwe 2>/dev/null; done`;
    await waitFor('a first address in a container', async () => / inet /.test((await sh('sh', '-c', poll)).stdout), 60_000, 1);
    await c.killRouter(h2, 'SIGKILL');
    await done;
    assert.ok(answered.size < 20, `all 20 attaches finished before the kill (${answered.size}); the test proves nothing`);

    await c.ok(h2, 'launch', '--nickname', 'h2');
    // The reconcile runs in the background; an attach waits for it, so attach first, then look.
    const ns = [];
    for (let i = 0; i < 5; i++) ns.push(await c.addContainer(`n${i}`));
    const fresh: string[] = [];
    for (const n of ns) fresh.push((await c.ok(h2, 'attach', n.name)).trim());

    const ps = await c.ok(h2, 'ps');
    let holding = 0;
    let released = 0;
    for (const k of ks) {
      const held = await ethwe(k);
      if (held.length === 0) {
        // An attach cut short: nothing may stay behind, neither an empty interface nor a claim held by nobody.
        assert.notEqual((await c.run(k, 'ip', 'link', 'show', 'ethwe')).code, 0, `${k.name} kept an interface without addresses`);
        const claim = await api(h2, 'GET', `/ip/netns:${k.name}`);
        assert.notEqual(claim.code, 200, `${k.name} holds nothing but IPAM keeps ${claim.body} for it`);
        released++;
      }
      const printed = answered.get(k.name);
      if (printed) assert.deepEqual(held, [printed], `${k.name} was told ${printed} but holds ${held.join(' ')}`);
      for (const a of held) {
        holding++;
        assert.ok(ps.split('\n').some((l) => l.includes(k.name) && l.includes(a)), `${k.name} holds ${a} but ps does not say so:\n${ps}`);
        const claim = await api(h2, 'GET', `/ip/netns:${k.name}`);
        assert.ok(claim.body.split(' ').includes(`${a}/12`), `${k.name} holds ${a} but IPAM has ${claim.code} ${claim.body}`);
        assert.equal(fresh.includes(a), false, `${a} held by ${k.name} was given again`);
      }
    }
    assert.ok(holding >= answered.size);
    assert.ok(released > 0 || holding === ks.length);
    assert.ok(holding > 0, 'no container got an address before the kill; the test proves nothing');
    assert.equal(new Set(fresh).size, fresh.length);
  });
});

describe('corrupt state files (10.4)', () => {
  test('a corrupt ipam file: launch says which file, what is wrong and what to do, in one line; the file is kept', async () => {
    await c.ok(h2, 'stop');
    await writeFile(join(h2.dataDir, 'ipam'), 'this is not what tsweave wrote');
    const r = await c.tsweave(h2, 'launch', '--nickname', 'h2');
    assert.equal(r.code, 1);
    const line = r.stderr.trim();
    assert.equal(line.split('\n').length, 1, r.stderr);
    assert.match(line, new RegExp(`^tsweave: router failed to start: state file ${h2.dataDir}/ipam is corrupt \\(.+\\); kept it as ${h2.dataDir}/ipam\\.corrupt-\\d+T\\d+Z; launch again`));
    const aside = (await readdir(h2.dataDir)).filter((f) => f.startsWith('ipam.corrupt-'));
    assert.equal(aside.length, 1);
    await waitFor('the failed router to exit', async () => (await c.tsweave(h2, 'status')).code === 1);
    // As the line says: launching again starts afresh, and the attached containers' addresses are claimed again.
    await c.ok(h2, 'launch', '--nickname', 'h2');
    await assertAllClaimed(h2, await c.ok(h2, 'attach', (await c.addContainer('x1')).name));
  });

  test('a corrupt attachments.json: the same, and the containers on the bridge are found again from the kernel', async () => {
    await c.ok(h2, 'stop');
    await writeFile(join(h2.dataDir, 'attachments.json'), '[{"containerId": "netns:k0", "cidrs": [');
    const r = await c.tsweave(h2, 'launch', '--nickname', 'h2');
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^tsweave: router failed to start: state file ${h2.dataDir}/attachments\\.json is corrupt \\(.+\\); kept it as ${h2.dataDir}/attachments\\.json\\.corrupt-\\d+T\\d+Z; launch again`));
    await waitFor('the failed router to exit', async () => (await c.tsweave(h2, 'status')).code === 1);
    await c.ok(h2, 'launch', '--nickname', 'h2');
    await assertAllClaimed(h2, await c.ok(h2, 'attach', (await c.addContainer('x2')).name));
  });
});

describe('corrupt dns-entries and peers.json (10.4)', () => {
  test('dns-entries: launch fails in one line and keeps the file; peers.json: kept aside, launch goes on', async () => {
    await c.ok(h2, 'stop');
    await writeFile(join(h2.dataDir, 'dns-entries'), 'truncated');
    await writeFile(join(h2.dataDir, 'peers.json'), '{"targets": ["10.200.0.1:67');
    const r = await c.tsweave(h2, 'launch', '--nickname', 'h2');
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^tsweave: router failed to start: state file ${h2.dataDir}/dns-entries is corrupt \\(.+\\); kept it as ${h2.dataDir}/dns-entries\\.corrupt-`));
    await waitFor('the failed router to exit', async () => (await c.tsweave(h2, 'status')).code === 1);
    await c.ok(h2, 'launch', '--nickname', 'h2');
    const files = await readdir(h2.dataDir);
    for (const key of ['dns-entries', 'peers.json']) assert.equal(files.filter((f) => f.startsWith(`${key}.corrupt-`)).length, 1, `${key}: ${files.join(' ')}`);
  }, 60_000);
});

/** Every k container's address is in ps and claimed in IPAM, and `fresh` (just attached) is none of them. */
async function assertAllClaimed(h: Host, fresh: string): Promise<void> {
  const ps = await c.ok(h, 'ps');
  let n = 0;
  for (const k of kContainers) {
    for (const a of await ethwe(k)) {
      n++;
      assert.ok(ps.split('\n').some((l) => l.includes(k.name) && l.includes(a)), `${k.name} holds ${a} but ps does not say so:\n${ps}`);
      const claim = await api(h, 'GET', `/ip/netns:${k.name}`);
      assert.ok(claim.body.split(' ').includes(`${a}/12`), `${k.name} holds ${a} but IPAM has ${claim.code} ${claim.body}`);
      assert.notEqual(fresh.trim(), a, `${a} held by ${k.name} was given again`);
    }
  }
  assert.ok(n > 0);
}
