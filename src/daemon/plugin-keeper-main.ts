// Entry of the Docker plugin keeper process (io/plugin-keeper.ts), started detached by the router:
//   node plugin-keeper-main.js PLUGIN_SOCKET ROUTER_BACKEND_SOCKET
import { silentLogger } from '../core/logger.js';
import { runKeeper } from '../io/plugin-keeper.js';

const [socket, backend] = process.argv.slice(2);
if (!socket?.startsWith('/') || !backend?.startsWith('/')) {
  process.stderr.write('usage: plugin-keeper-main.js PLUGIN_SOCKET ROUTER_BACKEND_SOCKET (absolute paths)\n');
  process.exit(2);
}
// The title names the socket, so `ps` tells which keeper holds what (it fits: argv held the path).
process.title = `tsweave-plugin-keeper ${socket}`;
runKeeper(socket, backend, silentLogger()).then(() => process.exit(0), () => process.exit(1));
