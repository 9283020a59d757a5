// The topology page's logic: polls /ui/topology.json every second and redraws the graph (cytoscape) and
// the tables. Everything from the router goes into the page as text (textContent, canvas labels), never as
// HTML: peer nicknames and DNS names come from other hosts.
'use strict';

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

let cy;
let last; // the previous snapshot, for throughput
let shownNodes = '';

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    if (c instanceof Node) td.appendChild(c);
    else td.textContent = c === undefined ? '' : String(c);
    tr.appendChild(td);
  }
  return tr;
}

function fillTable(id, rows) {
  const body = $(id).tBodies[0];
  body.replaceChildren(...rows);
}

function rate(bytesNow, bytesThen, ms) {
  if (bytesNow === undefined || bytesThen === undefined || ms <= 0) return undefined;
  return ((bytesNow - bytesThen) * 8 * 1000) / ms; // bit/s
}

function fmtRate(bps) {
  if (bps === undefined || bps < 0) return '–';
  if (bps >= 1e9) return (bps / 1e9).toFixed(2) + ' Gbit/s';
  if (bps >= 1e6) return (bps / 1e6).toFixed(1) + ' Mbit/s';
  if (bps >= 1e3) return (bps / 1e3).toFixed(1) + ' kbit/s';
  return bps.toFixed(0) + ' bit/s';
}

const label = (p) => (p.nickname ? `${p.nickname}\n${p.name}` : p.name);

/** Peers, edges and the local connections' annotations as cytoscape elements. */
function elements(v) {
  const nodes = [];
  const edges = [];
  const direct = new Set(v.connections.filter((c) => c.peer && c.state === 'established').map((c) => c.peer));
  for (const p of v.peers) {
    const cls = p.name === v.self.name ? 'self' : direct.has(p.name) ? '' : 'relayed';
    nodes.push({ data: { id: p.name, label: label(p) }, classes: cls });
  }
  const known = new Set(v.peers.map((p) => p.name));
  const local = new Map(v.connections.filter((c) => c.peer).map((c) => [c.peer, c]));
  const seen = new Set();
  for (const p of v.peers) {
    for (const c of p.connections) {
      if (!known.has(c.name)) continue;
      const key = [p.name, c.name].sort().join('|');
      if (seen.has(key)) continue;
      seen.add(key);
      const mine = p.name === v.self.name || c.name === v.self.name;
      const other = p.name === v.self.name ? c.name : p.name;
      const lc = mine ? local.get(other) : undefined;
      let cls = 'other';
      let text = '';
      if (lc) {
        cls = lc.state !== 'established' ? 'pend' : lc.path === 'tcp' ? 'tcp' : 'est';
        const parts = [lc.path === 'tcp' ? 'TCP fallback' : lc.path === 'udp' ? 'UDP' : lc.state];
        parts.push(lc.encrypted ? 'encrypted' : 'PLAINTEXT');
        if (lc.rttMs !== undefined) parts.push(`${lc.rttMs.toFixed(1)} ms`);
        const prev = last && last.connections.find((x) => x.peer === lc.peer);
        const ms = last ? v.time - last.time : 0;
        const up = prev ? rate(lc.bytesSent, prev.bytesSent, ms) : undefined;
        const down = prev ? rate(lc.bytesReceived, prev.bytesReceived, ms) : undefined;
        if (up !== undefined) parts.push(`↑${fmtRate(up)} ↓${fmtRate(down)}`);
        text = parts.join(' · ');
      } else if (!c.established) cls = 'pend';
      edges.push({ data: { id: key, source: p.name, target: c.name, label: text }, classes: cls });
    }
  }
  // Attempts that never reached a peer (no name): a red node with the address and the reason.
  for (const c of v.connections) {
    if (c.peer || (c.state !== 'failed' && c.state !== 'retrying' && c.state !== 'connecting')) continue;
    const id = 'addr:' + c.address;
    const bad = c.state !== 'connecting';
    nodes.push({ data: { id, label: c.address }, classes: bad ? 'failed' : 'attempt' });
    edges.push({ data: { id: 'e:' + id, source: v.self.name, target: id, label: c.error ? `${c.state}: ${c.error}` : c.state }, classes: bad ? 'fail' : 'pend' });
  }
  return nodes.concat(edges);
}

const STYLE = [
  { selector: 'node', style: {
    label: 'data(label)', 'text-wrap': 'wrap', 'text-valign': 'bottom', 'text-margin-y': 6, 'font-size': 12,
    'background-color': '#2563eb', width: 34, height: 34, color: '#1d2330', 'text-background-color': '#fff',
    'text-background-opacity': 0.8, 'text-background-padding': 2 } },
  { selector: 'node.self', style: { 'background-color': '#1d2330', 'border-width': 4, 'border-color': '#60a5fa' } },
  { selector: 'node.relayed', style: { 'background-color': '#93c5fd', 'border-width': 3, 'border-style': 'dashed', 'border-color': '#2563eb' } },
  { selector: 'node.failed', style: { 'background-color': '#c0262d', shape: 'round-rectangle', color: '#c0262d' } },
  { selector: 'node.attempt', style: { 'background-color': '#d97706', shape: 'round-rectangle' } },
  { selector: 'edge', style: {
    width: 3, 'curve-style': 'bezier', label: 'data(label)', 'font-size': 11, 'text-rotation': 'autorotate',
    'text-background-color': '#fff', 'text-background-opacity': 0.9, 'text-background-padding': 2, color: '#1d2330' } },
  { selector: 'edge.est', style: { 'line-color': '#1a7f37' } },
  { selector: 'edge.tcp', style: { 'line-color': '#7c3aed', 'line-style': 'dashed' } },
  { selector: 'edge.pend', style: { 'line-color': '#d97706', 'line-style': 'dashed' } },
  { selector: 'edge.fail', style: { 'line-color': '#c0262d', color: '#c0262d', width: 4 } },
  { selector: 'edge.other', style: { 'line-color': '#9ca3af', width: 2 } },
];

function drawGraph(v) {
  const els = elements(v);
  if (!cy) {
    cy = cytoscape({ container: $('graph'), elements: [], style: STYLE, wheelSensitivity: 0.3 });
  }
  const ids = els.map((e) => e.data.id).sort().join(',');
  const structural = ids !== shownNodes;
  cy.batch(() => {
    const want = new Set(els.map((e) => e.data.id));
    cy.elements().forEach((e) => {
      if (!want.has(e.id())) e.remove();
    });
    for (const e of els) {
      const have = cy.getElementById(e.data.id);
      if (have.nonempty()) {
        have.data(e.data);
        have.classes(e.classes);
      } else cy.add({ group: e.data.source ? 'edges' : 'nodes', data: e.data, classes: e.classes });
    }
  });
  if (structural) {
    shownNodes = ids;
    cy.layout({ name: cy.nodes().length <= 8 ? 'circle' : 'cose', animate: false, padding: 40 }).run();
    cy.fit(undefined, 40);
  }
}

function problems(v) {
  const out = [];
  for (const c of v.connections) {
    if (c.state === 'failed' || c.state === 'retrying') out.push(`connection to ${c.nickname || c.address} ${c.state}: ${c.error || 'no reason given'}`);
    else if (c.state === 'established' && !c.encrypted && v.self.encryption) out.push(`connection to ${c.nickname || c.peer} carries data unencrypted (trusted subnet)`);
  }
  if (v.ipam) {
    if (v.ipam.status !== 'ready' && v.ipam.status !== 'idle') out.push(`IP allocation: ${v.ipam.status}`);
    for (const e of v.ipam.entries) {
      if (!e.reachable) out.push(`IP range owner ${e.nickname || e.name} (${e.ips} addresses) is unreachable; use 'tsweave rmpeer' if it is gone`);
    }
  }
  return out;
}

function drawTables(v) {
  const ms = last ? v.time - last.time : 0;
  fillTable('connections', v.connections.map((c) => {
    const prev = last && c.peer && last.connections.find((x) => x.peer === c.peer);
    const up = prev ? rate(c.bytesSent, prev.bytesSent, ms) : undefined;
    const down = prev ? rate(c.bytesReceived, prev.bytesReceived, ms) : undefined;
    const state = el('span', c.error ? `${c.state}: ${c.error}` : c.state, c.state === 'established' ? 'good' : c.state === 'failed' || c.state === 'retrying' ? 'bad' : '');
    const who = c.peer ? `${c.nickname || ''} ${c.peer}`.trim() : c.address;
    return row([who, state, c.path === 'tcp' ? 'TCP fallback' : c.path === 'udp' ? 'UDP direct' : '–',
      c.encrypted === undefined ? '–' : c.encrypted ? 'yes' : 'no',
      c.rttMs === undefined ? '–' : `${c.rttMs.toFixed(1)} ms`,
      up === undefined ? '–' : `${fmtRate(up)} / ${fmtRate(down)}`]);
  }));
  $('ipam-status').textContent = v.ipam ? `${v.ipam.range} · ${v.ipam.status}` : 'IPAM off';
  const total = v.ipam ? v.ipam.entries.reduce((a, e) => a + e.ips, 0) : 0;
  fillTable('ipam', (v.ipam ? v.ipam.entries : []).map((e) => row([
    `${e.nickname || ''} ${e.name}`.trim(), e.ips, total ? `${((100 * e.ips) / total).toFixed(1)} %` : '–',
    el('span', e.reachable ? 'yes' : 'NO', e.reachable ? 'good' : 'bad')])));
  fillTable('containers', v.containers.map((c) => row([c.id, c.hostname || '', c.cidrs.join(', '), c.mac])));
  $('dns-domain').textContent = v.dns ? v.dns.domain : 'weaveDNS off';
  const nick = new Map(v.peers.map((p) => [p.name, p.nickname]));
  fillTable('dns', (v.dns ? v.dns.entries : []).map((e) => row([e.hostname, e.address, nick.get(e.origin) || e.origin])));
  const list = problems(v);
  $('problems').hidden = list.length === 0;
  $('problem-list').replaceChildren(...list.map((p) => el('li', p)));
}

async function poll() {
  try {
    const res = await fetch('/ui/topology.json', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const v = await res.json();
    $('self').textContent = `${v.self.nickname} (${v.self.name}) · ${v.version}`;
    drawGraph(v);
    drawTables(v);
    last = v;
    const u = $('updated');
    u.textContent = `${v.peers.length} peers · updated ${new Date(v.time).toLocaleTimeString()}`;
    u.className = 'muted';
  } catch (err) {
    const u = $('updated');
    u.textContent = `cannot reach the router: ${err && err.message ? err.message : err}`;
    u.className = 'bad';
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

if (typeof cytoscape === 'undefined') {
  $('updated').textContent = 'the graph library (cytoscape) is not installed next to the router';
  $('updated').className = 'bad';
} else {
  poll();
}
