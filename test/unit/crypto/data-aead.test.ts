// Data-plane AEAD, the node:crypto reference engine: the properties every engine must have
// (test/support/aead-suite.ts). The native engine is checked against it in test/netns/native-aead.test.ts,
// since unit tests do not load the addon.
import { nodeDataAead } from '../../../src/crypto/data-aead.js';
import { engineSuite } from '../../support/aead-suite.js';

engineSuite('node:crypto reference', () => nodeDataAead);
