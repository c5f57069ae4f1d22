import { Inject, Injectable } from '@nestjs/common';
import { getAddress, isAddress } from 'ethers';
import { createRequire } from 'node:module';
import { CLOCK, type Clock } from '@opal/service-runtime';
import { decideCreate, type CreateDatanet } from '../domain/datanet.decider.js';
import { defaultPolicy } from '../domain/datanet.state.js';
import { datanetStream, type ContributionPolicy } from '../domain/ingest.events.js';
import { IngestError } from '../domain/ingest.errors.js';
import { datanetIdOf } from '../domain/identifiers.js';
import { DatanetRepository } from './datanet.repository.js';
import { SCHEMA_VALIDATOR, type SchemaValidator } from './ingest.ports.js';

export type CreateDatanetInput = Omit<CreateDatanet, 'policy'> & { policy: Partial<ContributionPolicy> | undefined };

const spdx = new Set<string>(createRequire(import.meta.url)('spdx-license-ids') as string[]);
const ID = /^[a-z0-9][a-z0-9-]{1,62}$/;

// Contributors submit many times; their checksummed form (a keccak per call) is remembered.
const checksummed = new Map<string, string>();

export function normalizeAddress(field: string, value: string): string {
  const known = checksummed.get(value);
  if (known) return known;
  if (!isAddress(value)) throw new IngestError('INVALID_FIELD', `${field}: ${JSON.stringify(value)} is not an Ethereum address`);
  const address = getAddress(value);
  if (checksummed.size >= 100_000) checksummed.clear();
  checksummed.set(value, address);
  return address;
}

@Injectable()
export class CreateDatanetHandler {
  constructor(
    private readonly datanets: DatanetRepository,
    @Inject(SCHEMA_VALIDATOR) private readonly schemas: SchemaValidator,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async execute(input: CreateDatanetInput): Promise<{ datanetId: string }> {
    const name = input.name.trim();
    if (!name || name.length > 200) throw new IngestError('INVALID_FIELD', 'name: required, at most 200 characters');
    const owner = normalizeAddress('owner', input.owner);
    const datanetId = input.datanetId || datanetIdOf(owner, name);
    if (!ID.test(datanetId)) throw new IngestError('INVALID_FIELD', 'datanet_id: 2-63 lowercase letters, digits or dashes');
    if (input.dataKind !== 'text' && input.dataKind !== 'jsonl') {
      throw new IngestError('INVALID_FIELD', `data_kind: must be "text" or "jsonl", got ${JSON.stringify(input.dataKind)}`);
    }
    if (input.dataKind === 'jsonl') {
      if (!input.jsonSchema) throw new IngestError('INVALID_FIELD', 'json_schema: required for a jsonl Datanet');
      try {
        this.schemas.compile(input.jsonSchema);
      } catch (e) {
        throw new IngestError('INVALID_FIELD', `json_schema: ${(e as Error).message}`);
      }
    } else if (input.jsonSchema) {
      throw new IngestError('INVALID_FIELD', 'json_schema: only a jsonl Datanet takes a schema');
    }
    if (!spdx.has(input.license) && !/^LicenseRef-[A-Za-z0-9.-]+$/.test(input.license)) {
      throw new IngestError('INVALID_FIELD', `license: ${JSON.stringify(input.license)} is not an SPDX license identifier`);
    }
    const p = input.policy ?? {};
    const policy: ContributionPolicy = {
      maxItemBytes: p.maxItemBytes || defaultPolicy.maxItemBytes,
      dailyQuota: p.dailyQuota ?? 0,
      reviewRequired: p.reviewRequired ?? false,
      nearDuplicatePpm: p.nearDuplicatePpm || defaultPolicy.nearDuplicatePpm,
      validators: (p.validators ?? []).map((v, i) => normalizeAddress(`policy.validators[${i}]`, v)),
    };
    const tags = input.tags.map((t) => t.trim().toLowerCase()).filter(Boolean);
    const cmd: CreateDatanet = { ...input, name, datanetId, owner, tags, policy };
    await this.datanets.execute(datanetStream(datanetId), { now: this.clock.now(), commandId: `create:${datanetId}` }, (state) => ({
      events: decideCreate(state, cmd),
      result: undefined,
    }));
    return { datanetId };
  }
}
