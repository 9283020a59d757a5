import { test } from 'vitest';
import assert from 'node:assert/strict';
import {
  containerGone, containerNotFound, containerNotRunning, dockerFqdn, parseContainerReference,
} from '../../../src/core/container-reference.js';

test('pid:N, netns:/path and names', () => {
  assert.deepEqual(parseContainerReference('pid:1234'), { kind: 'pid', pid: 1234, text: 'pid:1234' });
  assert.deepEqual(parseContainerReference(' netns:/run/netns/x '), { kind: 'path', path: '/run/netns/x', text: 'netns:/run/netns/x' });
  assert.deepEqual(parseContainerReference('web'), { kind: 'name', name: 'web', text: 'web' });
  assert.deepEqual(parseContainerReference('3f4e1a9c0b2d'), { kind: 'name', name: '3f4e1a9c0b2d', text: '3f4e1a9c0b2d' });
  assert.equal(parseContainerReference('my_app.1-x').kind, 'name');
});

test('malformed references are usage errors naming the input and the rule', () => {
  assert.throws(() => parseContainerReference('pid:abc'), {
    code: 'ERR_CONFIG',
    message: 'invalid container "pid:abc": pid:N needs a process id 1..4194304',
  });
  assert.throws(() => parseContainerReference('pid:0'), { code: 'ERR_CONFIG' });
  assert.throws(() => parseContainerReference('pid:99999999'), { code: 'ERR_CONFIG' });
  assert.throws(() => parseContainerReference('netns:run/netns/x'), {
    message: 'invalid container "netns:run/netns/x": netns:PATH needs an absolute path like netns:/run/netns/NAME',
  });
  assert.throws(() => parseContainerReference('netns:/run/netns/../../etc/passwd'), { message: /must not contain "\.\."/ });
  for (const bad of ['', '../x', 'a/b', '-rm', 'sp ace', 'x'.repeat(300)]) {
    assert.throws(() => parseContainerReference(bad), {
      code: 'ERR_CONFIG',
      message: /must be a container name or id, a network namespace name, pid:N or netns:\/path$/,
    });
  }
});

test('not-found and not-running messages', () => {
  assert.equal(
    containerNotFound('web').message,
    'container "web" not found (not a Docker container, not a named network namespace in /run/netns, not pid:N or netns:/path)',
  );
  assert.equal(containerNotFound('web').code, 'ERR_CONTAINER_NOT_FOUND');
  assert.match(containerNotFound('web', 'cannot talk to Docker at unix:///x').message, /netns:\/path\); cannot talk to Docker at unix:\/\/\/x$/);
  assert.equal(containerGone('pid:7', 'no process with pid 7').message, 'container "pid:7" not found: no process with pid 7');
  const nr = containerNotRunning('web');
  assert.equal(nr.message, 'container web is not running');
  assert.equal(nr.code, 'ERR_CONTAINER_NOT_FOUND');
  assert.equal(nr.fields?.reason, 'not-running');
});

test('FQDN from Docker hostname and domainname', () => {
  assert.equal(dockerFqdn('web', 'weave.local'), 'web.weave.local');
  assert.equal(dockerFqdn('web', 'weave.local.'), 'web.weave.local');
  assert.equal(dockerFqdn('web', ''), 'web');
  assert.equal(dockerFqdn('', 'weave.local'), undefined);
});
