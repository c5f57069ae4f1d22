import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_ATTRIBUTION_PARAMS } from '@opal/attribution-index';
import { parameterSpecs } from '@opal/protocol-parameters';
import { attributionParamsFrom, governedAttributionParams } from './attribution-params.js';

describe('attribution parameters from governance', () => {
  it('given governance genesis values, when mapped, then each governed threshold takes its value and copyMinTokens keeps the library default', () => {
    const genesis = new Map(parameterSpecs.map((p) => [p.name, p.genesis]));
    for (const name of Object.keys(governedAttributionParams)) assert.ok(genesis.has(name), `governance defines ${name}`);
    const p = attributionParamsFrom(genesis);
    assert.equal(p.minSpanTokens, Number(genesis.get('attribution.min_span_tokens')));
    assert.equal(p.maxSpanCount, Number(genesis.get('attribution.max_span_count')));
    assert.equal(p.maxContributorSharePpm, Number(genesis.get('attribution.contributor_cap_ppm')));
    assert.equal(p.retrievalSharePpm, Number(genesis.get('attribution.retrieval_share_ppm')));
    assert.equal(p.copyMinTokens, DEFAULT_ATTRIBUTION_PARAMS.copyMinTokens);
  });

  it('given no governed values, when mapped, then the library defaults hold; a non-integer value is refused by name', () => {
    assert.deepEqual(attributionParamsFrom(new Map()), DEFAULT_ATTRIBUTION_PARAMS);
    assert.throws(() => attributionParamsFrom(new Map([['attribution.max_span_count', '1.5']])), /attribution\.max_span_count/);
  });
});
