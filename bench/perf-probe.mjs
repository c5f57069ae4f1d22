import { writeTinyModelSet } from '@opal/gguf';
import { LlamaCppEngine } from '@opal/lora-runtime';
import { collect } from '@opal/lora-runtime/testing';
import { getLlama } from 'node-llama-cpp';
const dir = '/tmp/perfmodels';
const set = await writeTinyModelSet(dir, { adapters: 1 });
// raw node-llama-cpp
const llama = await getLlama({ gpu: false });
const model = await llama.loadModel({ modelPath: set.base.path });
const ctx = await model.createContext({ contextSize: 512, sequences: 1, threads: 1 });
const seq = ctx.getSequence();
const prompt = model.tokenize('hello world', false);
let t0 = performance.now(); let n = 0;
for await (const tok of seq.evaluate(prompt, { temperature: 0 })) { if (++n >= 256) break; }
console.log('raw evaluate greedy', n, (n / (performance.now() - t0) * 1000).toFixed(0), 'tok/s');
await seq.clearHistory();
t0 = performance.now(); n = 0;
for await (const tok of seq.evaluate(prompt, { temperature: 0.8, seed: 1 })) { if (++n >= 256) break; }
console.log('raw evaluate temp', n, (n / (performance.now() - t0) * 1000).toFixed(0), 'tok/s');
await ctx.dispose(); await model.dispose(); await llama.dispose();
const engine = new LlamaCppEngine({ threads: 1, slotsPerAdapter: 8, gpu: false });
await engine.loadBaseModel({ id: 'tiny', path: set.base.path });
for (const conc of [1, 8]) {
  t0 = performance.now();
  const rs = await Promise.all(Array.from({ length: conc }, (_, i) => collect(engine.generate({ baseModelId: 'tiny', prompt: 'hello world ' + i, maxTokens: 256, temperature: 0.8, seed: i }))));
  const tok = rs.reduce((s, r) => s + r.done.usage.completionTokens, 0);
  console.log('engine conc', conc, tok, (tok / (performance.now() - t0) * 1000).toFixed(0), 'tok/s');
}
await engine.close();
