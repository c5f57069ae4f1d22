import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AttributionError } from './attribution.errors.js';
import { parseRequestedVersions, parseVersionKey, resolveVersions, versionKey } from './datanet-version.js';

describe('Datanet version references', () => {
  it('given "<id>@<version>", when parsed, then round-trips; malformed keys give undefined', () => {
    assert.deepEqual(parseVersionKey('medical-notes@3'), { datanetId: 'medical-notes', version: 3 });
    assert.equal(versionKey({ datanetId: 'medical-notes', version: 3 }), 'medical-notes@3');
    for (const bad of ['medical-notes', 'x@0', 'x@-1', 'X@1', '../etc@1', 'a@1@2', 'a@01', 'a@99999999999']) assert.equal(parseVersionKey(bad), undefined, bad);
  });

  it('given several versions of one Datanet, when resolved, then only the latest is kept (versions are cumulative) and Datanets are sorted', () => {
    const refs = ['b@1', 'a@2', 'b@3', 'a@1', 'b@3'].map((k) => parseVersionKey(k)!);
    assert.deepEqual(resolveVersions(refs).map(versionKey), ['a@2', 'b@3']);
  });

  it('given a request, when a version is malformed or none is given, then the error names the field', () => {
    assert.throws(() => parseRequestedVersions('datanet_versions', []), (e: AttributionError) => e.code === 'INVALID_FIELD' && /datanet_versions/.test(e.message));
    assert.throws(() => parseRequestedVersions('datanet_versions', ['ok@1', 'nope']), (e: AttributionError) => e.code === 'INVALID_FIELD' && /"nope"/.test(e.message));
    assert.deepEqual(parseRequestedVersions('datanet_versions', ['ok@1', 'ok@2']).map(versionKey), ['ok@2']);
  });
});
