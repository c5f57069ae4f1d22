import { Inject, Injectable, Optional } from '@nestjs/common';
import { getAddress, isAddress } from 'ethers';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { sha256File } from '@opal/gguf';
import { CLOCK, type Clock } from '@opal/service-runtime';
import { adapterStream, baseModelStream, INFINI_GRAM_BASE } from '../domain/inference.events.js';
import { InferenceServiceError } from '../domain/inference.errors.js';
import { parseAmount } from '../domain/pricing.js';
import { decideRegisterAdapter, decideRegisterBaseModel, type RegisterAdapter, type RegisterBaseModel } from '../domain/registry.decider.js';
import { BaseModelInfoCache } from './model-files.js';
import { ModelCatalog } from './model-catalog.js';
import { RegistryRepository } from './registry.repository.js';
import { PUBLISHED_VERSIONS, type PublishedVersions } from './inference.ports.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const DATANET_VERSION = /^[a-z0-9][a-z0-9-]{1,62}@[1-9][0-9]{0,9}$/;
const HASH = /^(0x)?[0-9a-f]{64}$/;

export type RegisterBaseModelInput = { baseModelId: string; kind: string; path: string; endpoint: string; remoteName: string; contentHash: string; contextSize: number };
export type RegisterAdapterInput = {
  adapterId: string; baseModelId: string; path: string; owner: string; datanetVersions: string[]; pricePerThousandInput: string; pricePerThousandOutput: string;
};

const invalid = (message: string) => new InferenceServiceError('INVALID_FIELD', message);

/** RegisterBaseModel and RegisterAdapter: files are validated with @opal/gguf before any event. */
@Injectable()
export class RegisterModelHandler {
  private readonly files = new BaseModelInfoCache();

  constructor(
    private readonly registry: RegistryRepository,
    private readonly catalog: ModelCatalog,
    @Inject(CLOCK) private readonly clock: Clock,
    /** Where the Datanet versions an infini-gram adapter serves are checked (absent: not checked). */
    @Optional() @Inject(PUBLISHED_VERSIONS) private readonly versions?: PublishedVersions,
  ) {}

  async registerBaseModel(input: RegisterBaseModelInput): Promise<{ baseModelId: string; contentHash: string; contextSize: number; architecture: string }> {
    if (!ID.test(input.baseModelId)) throw invalid('base_model_id: 1-128 letters, digits, dots, colons, dashes or underscores');
    if (input.baseModelId === INFINI_GRAM_BASE) throw new InferenceServiceError('BASE_MODEL_EXISTS', `base_model_id: ${INFINI_GRAM_BASE} is built in`);
    if ((await this.registry.peek(adapterStream(input.baseModelId))).state.registered) throw new InferenceServiceError('BASE_MODEL_EXISTS', `base_model_id: ${input.baseModelId} is an adapter`);
    let cmd: RegisterBaseModel;
    if (input.kind === 'gguf') {
      if (!input.path) throw invalid('path: required for a gguf base model');
      const info = await this.files.base(resolve(input.path));
      if (input.contextSize > info.contextLength) throw invalid(`context_size: ${input.contextSize} exceeds the model's context length ${info.contextLength}`);
      cmd = {
        baseModelId: input.baseModelId, kind: 'gguf', uri: info.path, contentHash: info.contentHash, contextSize: input.contextSize || info.contextLength,
        architecture: info.architecture, remoteName: '',
      };
    } else if (input.kind === 'remote') {
      if (!/^https?:\/\/[^\s]+$/.test(input.endpoint)) throw invalid('endpoint: an http(s) URL is required for a remote base model');
      if (input.contentHash && !HASH.test(input.contentHash)) throw invalid('content_hash: 64 hex digits');
      cmd = {
        baseModelId: input.baseModelId, kind: 'remote', uri: input.endpoint, contentHash: input.contentHash.replace(/^0x/, ''), contextSize: input.contextSize || 4096,
        architecture: '', remoteName: input.remoteName || input.baseModelId,
      };
    } else {
      throw invalid(`kind: must be "gguf" or "remote", got ${JSON.stringify(input.kind)}`);
    }
    await this.registry.execute(baseModelStream(cmd.baseModelId), { now: this.clock.now() }, (s) => ({ events: decideRegisterBaseModel(s, cmd), result: undefined }));
    return { baseModelId: cmd.baseModelId, contentHash: cmd.contentHash, contextSize: cmd.contextSize, architecture: cmd.architecture };
  }

  async registerAdapter(input: RegisterAdapterInput): Promise<{ adapterId: string; contentHash: string }> {
    if (!ID.test(input.adapterId)) throw invalid('adapter_id: 1-128 letters, digits, dots, colons, dashes or underscores');
    if (!isAddress(input.owner)) throw invalid(`owner: ${JSON.stringify(input.owner)} is not an Ethereum address`);
    input.datanetVersions.forEach((v, i) => {
      if (!DATANET_VERSION.test(v)) throw invalid(`datanet_versions[${i}]: ${JSON.stringify(v)} is not "<datanet_id>@<version>"`);
    });
    const inPrice = parseAmount(input.pricePerThousandInput || '0');
    const outPrice = parseAmount(input.pricePerThousandOutput || '0');
    if (inPrice === undefined) throw invalid('price_per_thousand_input: a decimal number of base units');
    if (outPrice === undefined) throw invalid('price_per_thousand_output: a decimal number of base units');
    const base = await this.catalog.base(input.baseModelId);
    // Adapters and bases share one namespace (a request names either); the built-in base's id too.
    if (input.adapterId === INFINI_GRAM_BASE) throw new InferenceServiceError('ADAPTER_EXISTS', `adapter_id: ${INFINI_GRAM_BASE} is the built-in base model`);
    if ((await this.registry.peek(baseModelStream(input.adapterId))).state.registered) throw new InferenceServiceError('ADAPTER_EXISTS', `adapter_id: ${input.adapterId} is a base model`);
    let uri: string;
    let contentHash = '';
    if (base.engine === 'infini-gram') {
      if (input.path) throw invalid('path: the infini-gram base takes no file; its adapter is its Datanet version');
      if (input.datanetVersions.length !== 1) throw invalid('datanet_versions: an infini-gram adapter names exactly one Datanet version');
      uri = input.datanetVersions[0]!;
      // The adapter is that version's index: one not published would fail every request, and its
      // id would stay taken by a registration that cannot serve.
      if (this.versions && !(await this.versions.has(uri))) {
        throw new InferenceServiceError('DATANET_VERSION_NOT_FOUND', `datanet_versions[0]: ${uri} is not a published Datanet version`);
      }
    } else if (base.engine === 'gguf') {
      if (!input.path) throw invalid('path: required (a GGUF LoRA file)');
      const info = await this.files.adapter(resolve(input.path), base.uri);
      uri = info.path;
      contentHash = info.contentHash;
    } else {
      // A remote server reads the file itself; hash it when this machine can see it too.
      if (!input.path) throw invalid('path: required (the LoRA path the remote server loads)');
      uri = input.path;
      if (existsSync(input.path)) contentHash = await sha256File(input.path);
    }
    const cmd: RegisterAdapter = {
      adapterId: input.adapterId, baseModelId: base.id, owner: getAddress(input.owner), uri, contentHash, datanetVersions: [...input.datanetVersions],
      pricePer1kInput: inPrice.toString(), pricePer1kOutput: outPrice.toString(),
    };
    await this.registry.execute(adapterStream(cmd.adapterId), { now: this.clock.now() }, (s) => ({ events: decideRegisterAdapter(s, cmd), result: undefined }));
    return { adapterId: cmd.adapterId, contentHash };
  }
}
