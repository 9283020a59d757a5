// The CNI plugin `tsweave-net`: what a container runtime executes with CNI_* in the environment and the
// network configuration on stdin (cni/spec.ts checks both). ADD, DEL and CHECK are requests to the router
// of the namespace the plugin runs in, over its unix API socket (api/cni-routes.ts); the router does the
// work, so the plugin holds no state and a crash of it leaves nothing half-done. VERSION needs no router.
// Every failure is a CNI error object on stdout and exit code 1; nothing escapes as an exception.

import { ApiClient, ApiError, ApiPermissionError, RouterNotRunningError, nodeHttpTransport, resolveApiAddress } from '../cli/api-client.js';
import { errorMessage } from '../core/errors.js';
import {
  CniError, ErrorCode, MAX_STDIN_BYTES, formatAddResult, formatError, formatVersionResult, parseCommand, parseEnv,
  parseNetConf, peekVersion, podDnsName, supportsCheck, type AddAnswer,
} from './spec.js';

type Env = Readonly<Record<string, string | undefined>>;

/** One JSON request to the router; rejects as ApiClient does. */
export type RouterCall = (path: string, body: unknown) => Promise<string>;

export interface PluginOutcome {
  stdout: string;
  exitCode: 0 | 1;
}

/** A failure talking to the router as the CNI error the runtime should see. */
export function routerError(err: unknown, what: string): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof RouterNotRunningError) {
    return new CniError(ErrorCode.TRY_AGAIN_LATER, `tsweave router is not running on this host; try again later (${what})`, err.message);
  }
  if (err instanceof ApiPermissionError) return new CniError(ErrorCode.IO_FAILURE, err.message);
  if (err instanceof ApiError) {
    const msg = `tsweave router refused ${what}: ${err.message}`;
    switch (err.status) {
      case 400: return new CniError(ErrorCode.INVALID_CONFIG, msg);
      case 404: return new CniError(ErrorCode.UNKNOWN_CONTAINER, msg);
      case 503: return new CniError(ErrorCode.TRY_AGAIN_LATER, msg);
      default: return new CniError(what === 'CHECK' ? ErrorCode.CHECK_FAILED : ErrorCode.ROUTER_FAILED, msg);
    }
  }
  return new CniError(ErrorCode.IO_FAILURE, `talking to the tsweave router failed (${what}): ${errorMessage(err)}`);
}

/** The whole plugin run, given its environment, its stdin and a way to reach the router. */
export async function runPlugin(env: Env, stdin: string, router: (socket: string | undefined) => RouterCall): Promise<PluginOutcome> {
  const version = peekVersion(stdin);
  try {
    if (parseCommand(env) === 'VERSION') return { stdout: JSON.stringify(formatVersionResult()), exitCode: 0 };
    const conf = parseNetConf(stdin);
    const e = parseEnv(env);
    const call = router(conf.apiSocket);
    const body = { containerId: e.containerId, netns: e.netns, ifname: e.ifname };
    switch (e.command) {
      case 'ADD': {
        const dnsName = podDnsName(e.args);
        const text = await call('/cni/add', dnsName ? { ...body, dnsName } : body).catch((err: unknown) => { throw routerError(err, 'ADD'); });
        let answer: AddAnswer;
        try {
          answer = JSON.parse(text) as AddAnswer;
        } catch {
          throw new CniError(ErrorCode.ROUTER_FAILED, 'tsweave router answered ADD with something that is not JSON');
        }
        return { stdout: JSON.stringify(formatAddResult(conf.cniVersion, e, answer)), exitCode: 0 };
      }
      case 'DEL':
        await call('/cni/del', body).catch((err: unknown) => { throw routerError(err, 'DEL'); });
        return { stdout: '', exitCode: 0 };
      case 'CHECK':
        if (!supportsCheck(conf.cniVersion)) {
          throw new CniError(ErrorCode.INCOMPATIBLE_VERSION, `CHECK is not defined for cniVersion ${conf.cniVersion} (only from 0.4.0)`);
        }
        await call('/cni/check', body).catch((err: unknown) => { throw routerError(err, 'CHECK'); });
        return { stdout: '', exitCode: 0 };
      default:
        throw new CniError(ErrorCode.INVALID_ENV, `unexpected CNI_COMMAND ${e.command}`);
    }
  } catch (err) {
    const e = err instanceof CniError ? err : new CniError(ErrorCode.IO_FAILURE, `tsweave-net failed: ${errorMessage(err)}`);
    return { stdout: JSON.stringify(formatError(e, version)), exitCode: 1 };
  }
}

/** stdin up to the cap (one byte more tells "too big" apart from "exactly the cap"). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of process.stdin) {
    const b = c as Buffer;
    chunks.push(b);
    n += b.length;
    if (n > MAX_STDIN_BYTES) break;
  }
  return Buffer.concat(chunks).subarray(0, MAX_STDIN_BYTES + 1).toString('utf8');
}

/** The real router: the API socket from the config, else this namespace's (or TSWEAVE_API_SOCKET). */
function realRouter(env: Env): (socket: string | undefined) => RouterCall {
  return (socket) => {
    const addr = resolveApiAddress(socket ? { ...env, TSWEAVE_API_SOCKET: socket } : env);
    const client = new ApiClient(nodeHttpTransport, addr);
    return (path, body) => client.text('POST', path, body);
  };
}

export async function main(): Promise<void> {
  let out: PluginOutcome;
  try {
    const stdin = await readStdin();
    out = await runPlugin(process.env, stdin, realRouter(process.env));
  } catch (err) {
    out = { stdout: JSON.stringify(formatError(new CniError(ErrorCode.IO_FAILURE, `tsweave-net: ${errorMessage(err)}`), undefined)), exitCode: 1 };
  }
  process.stdout.write(out.stdout === '' ? '' : `${out.stdout}\n`, () => process.exit(out.exitCode));
}
