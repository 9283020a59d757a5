// The one-line reason `launch` prints when the router dies during start (issue 10.7).
import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { failureReason, launchFailureMessage } from '../../../src/cli/launch-failure.js';

const fatal = JSON.stringify({
  level: 50, time: 1, pid: 7, msg: 'router failed to start',
  err: { type: 'TsweaveError', message: 'port 6783 is in use', stack: 'TsweaveError: port 6783 is in use\n    at x (y.js:1:1)' },
});
const info = JSON.stringify({ level: 30, time: 2, pid: 7, msg: 'router stopping' });

describe('failureReason', () => {
  test('takes msg and err.message of the last error line, not the info lines after it', () => {
    assert.equal(failureReason(`${info}\n${fatal}\n${info}\n`), 'router failed to start: port 6783 is in use');
  });

  test('an error line without err gives its msg; a fatal (60) line counts too', () => {
    assert.equal(failureReason(JSON.stringify({ level: 60, msg: 'bridge failed' })), 'bridge failed');
  });

  test('falls back to the daemon\'s plain stderr line, without the prefix', () => {
    assert.equal(failureReason(`${info}\ntsweave: router failed to start: bad\nsecond line`), 'router failed to start: bad');
  });

  test('garbage and info-only logs give no reason', () => {
    assert.equal(failureReason(`{not json\n${info}\n\n`), undefined);
    assert.equal(failureReason(''), undefined);
  });

  test('a multi-line message is cut to its first line', () => {
    assert.equal(failureReason(JSON.stringify({ level: 50, msg: 'a\nb' })), 'a');
  });
});

describe('launchFailureMessage', () => {
  test('one line with the reason and the log path, no JSON, no stack', () => {
    const m = launchFailureMessage(`${fatal}\n${info}\n`, '/d/tsweave.log', 1);
    assert.equal(m, 'router failed to start: port 6783 is in use (log: /d/tsweave.log)');
  });

  test('a reason not starting with "router" gets the prefix; no reason at all names the exit code', () => {
    assert.equal(launchFailureMessage(JSON.stringify({ level: 50, msg: 'boom' }), '/l', 1), 'router failed to start: boom (log: /l)');
    assert.equal(launchFailureMessage('', '/l', 3), 'router exited during start (code 3) (log: /l)');
  });
});
