// IptablesPacketFilter with a recording fake `exec`: the restore input, the commands per backend, "missing"
// told apart from real failures, and the backend detection. (The real kernel: test/netns/host-access.test.ts.)
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { CommandError, type ExecFn, type ExecOptions } from '../../../src/io/exec.js';
import { IptablesPacketFilter, countRules, detectBackend } from '../../../src/io/iptables.js';

function recorder(answer: (cmd: string) => { stdout?: string; fail?: { exitCode: number; stderr: string } } = () => ({})) {
  const calls: Array<{ cmd: string; input?: string }> = [];
  const exec: ExecFn = async (file, args, opts?: ExecOptions) => {
    const cmd = [file, ...args].join(' ');
    calls.push({ cmd, ...(opts?.input === undefined ? {} : { input: opts.input }) });
    const a = answer(cmd);
    if (a.fail) throw new CommandError(`command "${cmd}" failed`, { command: cmd, exitCode: a.fail.exitCode, stdout: '', stderr: a.fail.stderr });
    return { stdout: a.stdout ?? '', stderr: '' };
  };
  return { calls, exec };
}

test('setChains: one iptables-restore --noflush declaring every chain, then the rules, quoted where needed', async () => {
  const r = recorder();
  await new IptablesPacketFilter({ exec: r.exec }, 'legacy').setChains('nat', [
    { chain: 'TSWEAVE-NAT', rules: [['-s', '10.32.0.5/32', '!', '-o', 'weave', '-j', 'MASQUERADE']] },
    { chain: 'TSWEAVE-CANARY', rules: [] },
  ]);
  assert.deepEqual(r.calls, [{
    cmd: 'iptables-legacy-restore -w 5 --noflush',
    input: '*nat\n:TSWEAVE-NAT - [0:0]\n:TSWEAVE-CANARY - [0:0]\n-A TSWEAVE-NAT -s 10.32.0.5/32 ! -o weave -j MASQUERADE\nCOMMIT\n',
  }]);
  await assert.rejects(new IptablesPacketFilter({ exec: r.exec }).setChains('nat', [{ chain: 'bad chain', rules: [] }]), /invalid iptables chain name/);
});

test('listRules: one iptables-save of every table (the backend\'s), parsed', async () => {
  const r = recorder(() => ({ stdout: '*filter\n:FORWARD DROP [0:0]\n:TSWEAVE - [0:0]\n-A FORWARD -j TSWEAVE\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n' }));
  const l = await new IptablesPacketFilter({ exec: r.exec }, 'legacy').listRules();
  assert.deepEqual(r.calls, [{ cmd: 'iptables-legacy-save' }]);
  assert.deepEqual(l.get('filter')!.get('FORWARD'), [['-j', 'TSWEAVE']]);
  assert.deepEqual(l.get('nat')!.get('POSTROUTING'), []);
  await new IptablesPacketFilter({ exec: r.exec }).listRules();
  assert.equal(r.calls[1]!.cmd, 'iptables-save', 'no backend: the system\'s');
});

test('hasRule / ensureFirst / deleteRule: a missing rule or chain is an answer, other failures are errors', async () => {
  let present = false;
  const r = recorder((cmd) => {
    if (cmd.includes(' -C ')) return present ? {} : { fail: { exitCode: 2, stderr: "iptables v1.8.9 (nf_tables): Chain 'TSWEAVE' does not exist\n" } };
    if (cmd.includes(' -D ')) return { fail: { exitCode: 1, stderr: 'iptables: Bad rule (does a matching rule exist in that chain?).\n' } };
    return {};
  });
  const f = new IptablesPacketFilter({ exec: r.exec });
  assert.equal(await f.hasRule('filter', 'FORWARD', ['-j', 'TSWEAVE']), false);
  await f.ensureFirst('filter', 'FORWARD', ['-j', 'TSWEAVE']);
  assert.equal(r.calls.at(-1)!.cmd, 'iptables -w 5 -t filter -I FORWARD 1 -j TSWEAVE');
  present = true;
  await f.ensureFirst('filter', 'FORWARD', ['-j', 'TSWEAVE']);
  assert.equal(r.calls.at(-1)!.cmd, 'iptables -w 5 -t filter -C FORWARD -j TSWEAVE', 'already there: not inserted twice');
  await f.deleteRule('filter', 'FORWARD', ['-j', 'TSWEAVE']); // absent: fine
  const locked = new IptablesPacketFilter({ exec: recorder(() => ({ fail: { exitCode: 4, stderr: 'Another app is currently holding the xtables lock.\n' } })).exec });
  await assert.rejects(locked.hasRule('filter', 'FORWARD', ['-j', 'TSWEAVE']), /failed/);
});

test('listChains reads *-save; backend detection follows the rules already there (Docker FORWARD DROP)', async () => {
  const nftSave = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:TSWEAVE - [0:0]\n:TSWEAVE-EXPOSE - [0:0]\n:DOCKER - [0:0]\nCOMMIT\n';
  const legacySave = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n';
  const r = recorder((cmd) => ({ stdout: cmd.startsWith('iptables-legacy-save') ? legacySave : nftSave }));
  assert.deepEqual(await new IptablesPacketFilter({ exec: r.exec }, 'nft').listChains('filter', 'TSWEAVE'), ['TSWEAVE', 'TSWEAVE-EXPOSE']);
  assert.equal(countRules(legacySave), 2);
  assert.equal(countRules(nftSave), 0);
  assert.equal(await detectBackend(undefined, r.exec), 'legacy');
  assert.equal(await detectBackend(undefined, recorder(() => ({ stdout: '' })).exec), undefined, 'no rules anywhere: the system default');
  assert.equal(await detectBackend('nft', r.exec), 'nft');
});
