// A state file in the data dir that cannot be read as what we wrote (issue 10.4): it is kept aside under
// a timestamped name, so nothing is overwritten without a copy, and start fails with one line that says
// which file, what is wrong, where the copy is and what to do. Launching again starts without the file.
import { join } from 'node:path';
import { TsweaveError, errorMessage } from '../core/errors.js';
import type { StateStore } from '../core/ports.js';

/** Sets `key` aside and returns the error to throw (one line). */
export async function setAsideCorrupt(store: StateStore, key: string, dataDir: string, problem: string, whatToDo: string): Promise<TsweaveError> {
  const path = join(dataDir, key);
  const oneLine = problem.replace(/\s+/g, ' ').slice(0, 200);
  let kept: string;
  try {
    kept = `kept it as ${await store.setAside(key)}`;
  } catch (err) {
    // Could not even move it: say so, and do not carry on (the next write would replace it).
    return new TsweaveError('ERR_STATE', `state file ${path} is corrupt (${oneLine}) and could not be set aside (${errorMessage(err)}); move it away by hand, then launch again`, {
      cause: err,
      fields: { path },
    });
  }
  return new TsweaveError('ERR_STATE', `state file ${path} is corrupt (${oneLine}); ${kept}; ${whatToDo}`, { fields: { path } });
}
