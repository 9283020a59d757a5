// `reset` removes the Docker network `weave` the router created (Weave's reset did too), while the router
// still serves the plugin that Docker asks to delete it. It stays when containers are on it (Docker
// refuses anyway; the user is told) and when there is no Docker to ask.
import { DOCKER_DEFAULT_NETWORK as DEFAULT_NETWORK, DOCKER_PLUGIN_NAME as PLUGIN_NAME } from '../core/defaults.js';
import { errorMessage } from '../core/errors.js';
import { DockerClient, DockerUnavailableError } from '../io/docker-client.js';

const DOCKER_TIMEOUT_MS = 5_000;

/** Returns a line for stderr when the network had to stay, else undefined. */
export async function removeWeaveNetwork(docker?: DockerClient): Promise<string | undefined> {
  try {
    const d = docker ?? new DockerClient({ timeoutMs: DOCKER_TIMEOUT_MS });
    const net = await d.inspectNetwork(DEFAULT_NETWORK);
    if (!net || net.Driver !== PLUGIN_NAME) return undefined;
    const n = Object.keys(net.Containers ?? {}).length;
    if (n > 0) {
      return `the Docker network "${DEFAULT_NETWORK}" stays: ${n} container(s) on it. Without the router, Docker ` +
        'waits about 15 s for the plugin on every change to them: launch, docker rm them, then reset again';
    }
    await d.removeNetwork(net.Id);
    return undefined;
  } catch (err) {
    if (err instanceof DockerUnavailableError) return undefined; // no Docker here: nothing of ours in it
    return `could not remove the Docker network "${DEFAULT_NETWORK}": ${errorMessage(err)}`;
  }
}
