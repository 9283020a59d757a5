// Weave Net verbs and flags that tsweave does not have, each with what to do instead, so a Weave user's
// habit ends in one line that says so (exit 2) rather than a bare "unknown command" — or, for
// `expose -h FQDN`, in the help text and exit 0 with nothing exposed. README "Coming from Weave" lists them.

const NO_PROXY = "tsweave has no Docker API proxy: use docker run --net=weave (the network plugin) or 'tsweave attach CONTAINER'";

/** Weave verbs (WEAVE-FACTS §1.2) → what to use instead. */
const COMMANDS: Readonly<Record<string, string>> = {
  env: NO_PROXY,
  config: NO_PROXY,
  setup: "there is nothing to set up: 'npm install' built tsweave and there are no images to pull " +
    "('tsweave setup-cni' installs the CNI plugin)",
};

/** Weave flags per verb → what to use instead. */
const FLAGS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  launch: {
    '--resume': 'a launch without PEER arguments dials the peers of the last run, as --resume did',
    '--no-restart': "tsweave launch never restarts the router by itself (run it under systemd or docker --restart for that)",
    '--plugin': 'the Docker plugin is on by default; --no-plugin turns it off',
    '--proxy': NO_PROXY,
    '-H': NO_PROXY,
    '--no-rewrite-hosts': NO_PROXY,
    '--no-default-ipalloc': NO_PROXY,
    '--rewrite-inspect': NO_PROXY,
    '--hostname-from-label': NO_PROXY,
    '--hostname-match': NO_PROXY,
    '--hostname-replacement': NO_PROXY,
    '--without-dns': NO_PROXY,
    '--no-multicast-route': NO_PROXY,
    '--host': 'the router listens on every address of the host (--port picks the port)',
    '--token': 'Weave Cloud discovery is gone; give a PEER instead',
  },
  attach: {
    '--rewrite-hosts': "tsweave does not edit the container's /etc/hosts; names resolve through weaveDNS ($(tsweave dns-args))",
    '--add-host': "tsweave does not edit the container's /etc/hosts; 'tsweave dns-add IP -h FQDN' names an address",
    '--no-multicast-route': 'attach always adds the 224.0.0.0/4 route; delete it in the container if it is not wanted',
  },
  expose: {
    '-h': "expose does not name the host; after it, 'tsweave dns-add IP -h FQDN' gives the printed address a name",
    '--without-masquerade': 'exposed subnets are always masqueraded for traffic from outside the weave network',
  },
};

/** The hint for a Weave-only verb, else undefined. */
export function weaveOnlyCommand(verb: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(COMMANDS, verb) ? COMMANDS[verb] : undefined;
}

/**
 * The first Weave-only flag in `args` (before any "--") with its hint, else undefined. `--flag=value` counts.
 * `-h` only with a value after it (`expose -h FQDN`); alone it still asks for help.
 */
export function weaveOnlyFlag(verb: string, args: readonly string[]): { flag: string; hint: string } | undefined {
  const table = Object.prototype.hasOwnProperty.call(FLAGS, verb) ? FLAGS[verb]! : undefined;
  if (!table) return undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return undefined;
    const flag = a.startsWith('--') ? a.split('=')[0]! : a;
    if (!Object.prototype.hasOwnProperty.call(table, flag)) continue;
    if (flag === '-h' && (args[i + 1] === undefined || args[i + 1]!.startsWith('-'))) continue;
    return { flag, hint: table[flag]! };
  }
  return undefined;
}
