export { collect, type Collected } from './collect.js';
export { startFakeOpenAiServer, type FakeOpenAiServer } from './openai-compatible.fake-server.js';
