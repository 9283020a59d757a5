// What the inner-netns fast-path tests load (test/netns/fastpath*.test.ts): imported only inside the
// test's own namespace (splitNetnsRun runs the file twice; the outer run must not load the native addon),
// so each test calls this from its inner() instead of repeating the same dynamic imports.
import { execFileSync } from 'node:child_process';

/** The modules, the loaded addon, and `ip -n NS …` for the test's namespace. */
export async function fastPathModules(ns: string) {
  const [native, fastpath, tap, udp, logger, aead, overlay, ports] = await Promise.all([
    import('../../src/io/native.js'),
    import('../../src/io/fastpath.js'),
    import('../../src/io/tap.js'),
    import('../../src/io/udp.js'),
    import('../../src/core/logger.js'),
    import('../../src/crypto/data-aead.js'),
    import('../../src/dataplane/overlay.js'),
    import('../../src/core/ports.js'),
  ]);
  return {
    native,
    addon: native.loadNative(),
    NativeFastPath: fastpath.NativeFastPath,
    openTap: tap.openTap,
    ipv4ToU32: udp.ipv4ToU32,
    NativeUdpSocket: udp.NativeUdpSocket,
    silentLogger: logger.silentLogger,
    nodeDataAead: aead.nodeDataAead,
    Overlay: overlay.Overlay,
    ports,
    ip: (...args: string[]): string => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' }),
  };
}
