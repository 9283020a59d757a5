// Entry point of the `tsweave-net` CNI plugin executable (the shim `tsweave setup-cni` installs runs this).
import { main } from './plugin.js';

void main();
