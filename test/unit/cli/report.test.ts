// `tsweave report [-f TEMPLATE]` end to end: the real CLI over real HTTP against the real route table
// (apiRoutes + serveApi on loopback) with a router backend that serves a sample snapshot. Also the
// route's own ?format= (Weave's `GET /report?format=`), and hostile templates bounded there.
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import { silentLogger } from '../../../src/core/logger.js';
import { type ApiServer, serveApi } from '../../../src/io/http-server.js';
import { apiRoutes, type ApiBackend } from '../../../src/api/routes.js';
import { nodeHttpTransport } from '../../../src/cli/api-client.js';
import { run, type CliDeps } from '../../../src/cli/run.js';
import { H1, H2, sampleStatus } from '../../support/status-sample.js';
import { tempDirs } from '../../support/temp-dir.js';

const tempDir = tempDirs('tsw-report-');
let server: ApiServer;
let statusCalls = 0;
const backend = { status: () => (statusCalls++, sampleStatus()) } as unknown as ApiBackend;

beforeAll(async () => {
  const socket = { path: `${await tempDir()}/api.sock`, gid: undefined, ownsDir: false };
  server = await serveApi(apiRoutes(backend), { host: '127.0.0.1', port: 0, socket, peerUid: async () => undefined }, silentLogger());
});

afterAll(async () => {
  await server.close();
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const deps: CliDeps = {
    env: { TSWEAVE_HTTP_ADDR: `127.0.0.1:${server.port}` },
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    http: nodeHttpTransport,
    isRoot: () => false,
    hostname: 'h1',
    readFile: () => '',
    lifecycle: { launch: async () => undefined, stop: async () => undefined, reset: async () => undefined },
  };
  const code = await run(argv, deps);
  return { code, out, err };
}

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: server.port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

test('report prints the Weave-shaped JSON, indented as weave report', async () => {
  const r = await cli('report');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^\{\n {4}"Ready": true,\n {4}"Version": "0\.3\.0",\n {4}"Router": \{\n {8}"Protocol": "weave",/);
  const j = JSON.parse(r.out);
  assert.equal(j.Router.Name, H1);
  assert.equal(j.IPAM.Entries.length, 2);
});

test('report -f / --format: Weave\'s template forms, output printed as is', async () => {
  const cases: [string[], string][] = [
    [['-f', '{{.Router.Name}}'], H1],
    [['--format', '{{ .Router.NickName }}'], 'h1'],
    [['--format={{.DNS.Domain}}'], 'weave.local.'],
    [['-f', '{{json .DNS.Upstream}}'], '["8.8.8.8"]'],
    [['-f', '{{range .Router.Peers}}{{.NickName}}{{"\\n"}}{{end}}'], 'h1\nh2\nh3\n'],
    [['-f', '{{range .Router.Connections}}{{printf "%-21v|%5d" .Address 7}}{{"\\n"}}{{end}}'],
      '10.0.0.2:6783        |    7\n10.0.0.7:6783        |    7\n'],
    [['-f', '{{range .Router.UnicastRoutes}}{{if and (ne .Dest .Via) (ne .Via "00:00:00:00:00:00")}}{{.Dest}} via {{.Via}} {{end}}{{end}}'],
      `aa:00:00:00:00:03 via ${H2} `],
  ];
  for (const [args, want] of cases) {
    const r = await cli('report', ...args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
    assert.equal(r.out, want, args.join(' '));
  }
});

test('a bad template: exit 2, one line naming the template, position and rule; parse errors ask no router', async () => {
  const before = statusCalls;
  let r = await cli('report', '-f', '{{range .Router.Peers}}');
  assert.equal(r.code, 2);
  assert.equal(r.err, 'tsweave: template --format:1:24: unexpected EOF: a block is not closed with {{end}}\n');
  assert.equal(statusCalls, before, 'the router was not asked');
  r = await cli('report', '-f', '{{.Router.Nmae}}');
  assert.equal(r.code, 2);
  assert.match(r.err, /^tsweave: template --format:1:3: executing at <\.Router\.Nmae>: can't evaluate field Nmae in type struct \(\.Router has Protocol, /);
  assert.equal(r.out, '');
});

test('GET /report?format= renders in the router, bounded; a bad template is a 400 with the reason', async () => {
  let a = await get(`/report?format=${encodeURIComponent('{{.Router.NickName}}/{{len .Router.Peers}}')}`);
  assert.deepEqual(a, { status: 200, body: 'h1/3' });
  a = await get(`/report?format=${encodeURIComponent('{{.Nope}}')}`);
  assert.equal(a.status, 400);
  assert.match(a.body, /^template format:1:3: executing at <\.Nope>: can't evaluate field Nope/);
  // Ranges nested 30 deep over 3 peers would be 3^30 steps: stopped by the step limit, the router answers.
  const hostile = '{{range $.Router.Peers}}'.repeat(30) + 'x' + '{{end}}'.repeat(30);
  a = await get(`/report?format=${encodeURIComponent(hostile)}`);
  assert.equal(a.status, 400);
  assert.match(a.body, /stopped after 100000 steps/);
  // 3^7 lines of 1000 bytes: over the output limit long before the step limit.
  const wide = '{{range $.Router.Peers}}'.repeat(7) + '{{printf "%1000d" 1}}' + '{{end}}'.repeat(7);
  a = await get(`/report?format=${encodeURIComponent(wide)}`);
  assert.equal(a.status, 400);
  assert.match(a.body, /output is over the limit of 1048576 bytes/);
  // The CLI evaluates in its own process with higher limits: the same 3^10 ranges the router refuses, it prints.
  const deep = '{{range $.Router.Peers}}'.repeat(10) + 'x' + '{{end}}'.repeat(10);
  assert.match((await get(`/report?format=${encodeURIComponent(deep)}`)).body, /stopped after 100000 steps/);
  const r = await cli('report', '-f', deep);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.length, 3 ** 10);
  assert.equal((await get('/snapshot')).status, 200);
  assert.equal(JSON.parse((await get('/snapshot')).body).router.name, H1, 'tsweave\'s own snapshot stays available');
});

test('the README\'s report -f examples print what the README says (over the same h1—h2—h3 mesh)', async () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('### `report` and templates'));
  const block = /```\n([\s\S]*?)```/.exec(section)![1]!;
  const examples = block.split(/^\$ /m).filter(Boolean);
  assert.ok(examples.length >= 5, 'the README shows the examples');
  for (const ex of examples) {
    const [cmd, ...expected] = ex.replace(/\n$/, '').split('\n');
    const m = /^tsweave report -f '([^']*)'$/.exec(cmd!);
    assert.ok(m, `a README example is not "tsweave report -f '…'": ${cmd}`);
    const r = await cli('report', '-f', m[1]!);
    assert.equal(r.code, 0, `${cmd}: ${r.err}`);
    assert.equal(r.out.replace(/\n$/, ''), expected.join('\n'), cmd);
  }
});
