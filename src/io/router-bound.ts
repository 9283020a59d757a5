// Long-lived helper commands (`bridge monitor fdb`) must die with the router. A child only notices its
// parent's death when it next writes to the closed pipe, and `bridge monitor` writes only on a
// forwarding-table event: after a SIGKILL (OOM killer, `kill -9`, a crash in native code) it would live on,
// and a relaunched router would start another. util-linux's setpriv --pdeathsig KILL asks the kernel
// (prctl PR_SET_PDEATHSIG, kept across exec) to SIGKILL the command when the thread that started it ends:
// libuv starts children from the main thread, which ends only with the process.
// Without setpriv (not in PATH) the command runs as it is: the caller says so once in its log.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

let setprivPath: string | null | undefined;

/** The absolute path of `name` in PATH, or undefined. */
function inPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** `file args` wrapped so that it is killed when the router dies; bound false: no setpriv here. */
export function routerBound(file: string, args: readonly string[]): { file: string; args: string[]; bound: boolean } {
  if (setprivPath === undefined) setprivPath = inPath('setpriv') ?? null;
  if (setprivPath === null) return { file, args: [...args], bound: false };
  return { file: setprivPath, args: ['--pdeathsig', 'KILL', '--', file, ...args], bound: true };
}
