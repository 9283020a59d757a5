// The fast path's thread mode for tests that start NativeFastPath themselves: the router's setting
// (TSWEAVE_DATAPLANE_THREAD_MODE, its default when unset), so these tests run in the mode the routers
// would, and `TSWEAVE_DATAPLANE_THREAD_MODE=split|unified npx vitest …` runs them in either.
import { dataplaneThreadModeFromEnv } from '../../src/config/settings.js';

export const UNIFIED = dataplaneThreadModeFromEnv(process.env) === 'unified';
