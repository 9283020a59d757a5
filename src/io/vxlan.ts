// VxlanFdb (core/ports.ts) over iproute2: the fast datapath's kernel side (dataplane/fastdp.ts has the
// rules and why). Each setting below was checked on this kernel in a throwaway netns:
//   ip link add vxlan-6784 mtu 65485 type vxlan id 6784 dstport 6784 nolearning    (no default remote:
//       frames to a MAC without an entry — broadcast, unknown unicast — are dropped, tx_dropped counts them;
//       the largest MTU, so the bridge never drops a frame from a container whose MTU was raised above the
//       overlay's: the vxlan device checks it against the underlay's path MTU itself and answers a DF frame
//       too big for it with ICMP "fragmentation needed" (MTU = path MTU − 50) into the bridge, back to the
//       sender; a frame without DF leaves in IP fragments. The heartbeat device keeps the overlay MTU: its
//       full-size pings prove that size crosses.)
//   ip link set vxlan-6784 master weave up
//   bridge link set dev vxlan-6784 learning off isolated on   (the bridge never learns a MAC on it:
//       only the router's static entries send frames there)
//   bridge link set dev vethwe-tap isolated on                (VXLAN arrivals never reach the sleeve's TAP,
//       sleeve frames the router writes never leave over VXLAN)
//   per remote MAC: bridge fdb replace MAC dev vxlan-6784 master static sticky   (sticky: without it the
//       bridge moves a static entry to the TAP when a sleeve frame from that MAC arrives there)
//                   bridge fdb replace MAC dev vxlan-6784 self dst PEER-IP
// Heartbeats take their own small bridge, so they can never reach a container or the sleeve (and a
// heartbeat carried by the sleeve can never confirm the VXLAN path): bridge weave-fdp with the heartbeat
// TAP vethwe-fdp and vxlanhb-6784 (VNI 6785, the same UDP port and MTU, so it meets the same firewall
// and path MTU as the data device). Entries are applied in one `bridge -force -batch` per change set.
// Not on any hot path.

import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../core/logger.js';
import type { TapDevice, VxlanFdb, VxlanFdbEntry } from '../core/ports.js';
import { formatIPv4 } from '../core/types.js';
import { exec as defaultExec, type ExecFn } from './exec.js';
import { FdbMonitor } from './fdb-monitor.js';

export const VXLAN_DEVICE = 'vxlan-6784';
export const HEARTBEAT_VXLAN = 'vxlanhb-6784';
export const HEARTBEAT_BRIDGE = 'weave-fdp';
export const HEARTBEAT_TAP = 'vethwe-fdp';
/** VNIs both ends agree on: container frames and heartbeats. */
const DATA_VNI = 6784;
const HEARTBEAT_VNI = 6785;
/** The largest vxlan MTU over IPv4 (65535 − 50 bytes of VXLAN headers): see the top of the file. */
const DATA_DEVICE_MTU = 65_485;

export interface IprouteVxlanInit {
  bridge: string;
  /** The sleeve's TAP (isolated from the vxlan port). */
  sleeveTap: string;
  port: number;
  mtu: number;
  /** This router's heartbeat MAC (dataplane/fastdp-wire.ts heartbeatMac). */
  heartbeatMac: number;
  /** Opens the heartbeat TAP (io/tap.ts openTap without offload). */
  openTap: (name: string) => TapDevice;
  logger: Logger;
  exec?: ExecFn;
}

export class IprouteVxlan implements VxlanFdb {
  private tap: TapDevice | undefined;
  private monitor: FdbMonitor | undefined;
  private readonly exec: ExecFn;
  private batchSeq = 0;

  constructor(private readonly init: IprouteVxlanInit) {
    this.exec = init.exec ?? defaultExec;
  }

  get heartbeatTap(): TapDevice {
    if (!this.tap) throw new Error('the fast datapath is not set up');
    return this.tap;
  }

  async setup(): Promise<void> {
    const { bridge, mtu, port } = this.init;
    const ip = (...a: string[]) => this.exec('ip', a);
    const br = (...a: string[]) => this.exec('bridge', a);
    await removeVxlanDevice(this.exec);
    const vxlan = async (name: string, vni: number, master: string, devMtu: number): Promise<void> => {
      await ip('link', 'add', name, 'mtu', String(devMtu), 'type', 'vxlan', 'id', String(vni), 'dstport', String(port), 'nolearning');
      await ip('link', 'set', 'dev', name, 'master', master, 'up');
      await br('link', 'set', 'dev', name, 'learning', 'off', 'isolated', 'on');
    };
    await vxlan(VXLAN_DEVICE, DATA_VNI, bridge, DATA_DEVICE_MTU);
    await br('link', 'set', 'dev', this.init.sleeveTap, 'isolated', 'on');
    await ip('link', 'add', HEARTBEAT_BRIDGE, 'mtu', String(mtu), 'type', 'bridge');
    await ip('link', 'set', 'dev', HEARTBEAT_BRIDGE, 'up');
    await vxlan(HEARTBEAT_VXLAN, HEARTBEAT_VNI, HEARTBEAT_BRIDGE, mtu);
    this.tap = this.init.openTap(HEARTBEAT_TAP);
    await ip('link', 'set', 'dev', HEARTBEAT_TAP, 'mtu', String(mtu), 'master', HEARTBEAT_BRIDGE, 'up');
    await br('fdb', 'replace', macText(this.init.heartbeatMac), 'dev', HEARTBEAT_TAP, 'master', 'static', 'sticky');
  }

  async program(add: readonly VxlanFdbEntry[], del: readonly VxlanFdbEntry[]): Promise<void> {
    const lines: string[] = [];
    const dev = (e: VxlanFdbEntry): string => (e.device === 'data' ? VXLAN_DEVICE : HEARTBEAT_VXLAN);
    for (const e of del) {
      const m = macText(e.mac);
      lines.push(`fdb del ${m} dev ${dev(e)} master`, `fdb del ${m} dev ${dev(e)} self`);
    }
    for (const e of add) {
      const m = macText(e.mac);
      lines.push(`fdb replace ${m} dev ${dev(e)} master static sticky`, `fdb replace ${m} dev ${dev(e)} self dst ${formatIPv4(e.underlay)}`);
    }
    if (lines.length === 0) return;
    const file = join(tmpdir(), `tsweave-fdb-${process.pid}-${++this.batchSeq}`);
    await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
    try {
      // -force: one entry that is already gone must not stop the rest.
      await this.exec('bridge', ['-force', '-batch', file]).catch((err: unknown) => {
        this.init.logger.debug({ err }, 'some fast datapath forwarding entries were refused');
      });
    } finally {
      await rm(file, { force: true });
    }
  }

  async localMacs(): Promise<number[]> {
    const { stdout } = await this.exec('bridge', ['-j', 'fdb', 'show', 'br', this.init.bridge]);
    return parseLocalMacs(stdout, this.ownPorts());
  }

  watchLocalMacs(onChange: () => void): () => boolean {
    this.monitor?.stop();
    const monitor = new FdbMonitor({ bridge: this.init.bridge, ownPorts: this.ownPorts(), onEvent: onChange, logger: this.init.logger });
    this.monitor = monitor;
    monitor.start();
    return () => monitor.running;
  }

  private ownPorts(): string[] {
    return [this.init.sleeveTap, VXLAN_DEVICE, this.init.bridge];
  }

  async teardown(): Promise<void> {
    this.monitor?.stop();
    this.monitor = undefined;
    this.tap?.close();
    this.tap = undefined;
    await removeVxlanDevice(this.exec);
  }
}

/** Deletes the fast datapath's devices if there are any (a crashed router's, or at reset). */
export async function removeVxlanDevice(exec: ExecFn = defaultExec): Promise<void> {
  for (const name of [VXLAN_DEVICE, HEARTBEAT_VXLAN, HEARTBEAT_BRIDGE]) await exec('ip', ['link', 'del', 'dev', name]).catch(() => undefined);
}

/**
 * The MACs `bridge -j fdb show br B` lists as learnt on container ports: dynamic entries (no state) on a
 * port other than the router's own. Malformed output yields what parses.
 */
export function parseLocalMacs(json: string, ownPorts: readonly string[]): number[] {
  let rows: unknown;
  try {
    rows = JSON.parse(json);
  } catch {
    return [];
  }
  if (!Array.isArray(rows)) return [];
  const out: number[] = [];
  for (const r of rows as Array<Record<string, unknown>>) {
    if (typeof r?.mac !== 'string' || typeof r.ifname !== 'string' || ownPorts.includes(r.ifname)) continue;
    if ((r.state ?? '') !== '' || r.master === undefined) continue;
    const mac = parseInt(r.mac.replace(/:/g, ''), 16);
    if (/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(r.mac) && (Math.floor(mac / 0x10000000000) & 1) === 0) out.push(mac);
  }
  return out;
}

function macText(mac: number): string {
  return mac.toString(16).padStart(12, '0').match(/../g)!.join(':');
}
