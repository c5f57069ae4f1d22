import type { DomainEvent } from '@opal/event-sourcing';

// The inference service's events as the domain sees them (proto/opal/inference/v1/events.proto
// carries exactly these fields).

export type Usage = { promptTokens: number; completionTokens: number };
/** Token base units as decimal strings (bigint in the domain). */
export type FeeQuote = { inputFee: string; outputFee: string; platformFee: string; total: string };

export type BaseModelKind = 'gguf' | 'remote' | 'infini-gram';

export type BaseModelRegistered = DomainEvent<
  'BaseModelRegistered',
  { baseModelId: string; kind: string; uri: string; contentHash: string; contextSize: number; architecture: string; remoteName: string }
>;
export type AdapterRegistered = DomainEvent<
  'AdapterRegistered',
  { adapterId: string; baseModelId: string; owner: string; uri: string; contentHash: string; datanetVersions: string[]; pricePer1kInput: string; pricePer1kOutput: string }
>;
export type InferenceCompleted = DomainEvent<
  'InferenceCompleted',
  {
    inferenceId: string;
    tenant: string;
    adapterId: string;
    baseModelId: string;
    datanetVersions: string[];
    outputText: string;
    retrievedContributions: string[];
    usage: Usage | undefined;
    fee: FeeQuote | undefined;
    adapterOwner: string;
    finishReason: string;
  }
>;
export type InferenceFailed = DomainEvent<'InferenceFailed', { inferenceId: string; tenant: string; adapterId: string; reason: string; detail: string }>;
export type TenantCreated = DomainEvent<'TenantCreated', { tenant: string; apiKeyHash: string }>;
export type TenantCredited = DomainEvent<'TenantCredited', { tenant: string; amount: string; reference: string }>;

/** A worst-case fee held against the tenant's balance for one inference (see the tenant decider). */
export type BalanceHeld = DomainEvent<'BalanceHeld', { tenant: string; inferenceId: string; amount: string; expiresAt: bigint }>;
/** A hold ended: `charged` is the inference's fee, '0' when it recorded none. */
export type HoldSettled = DomainEvent<'HoldSettled', { tenant: string; inferenceId: string; charged: string; amount: string }>;

export type InferenceEvent =
  | BaseModelRegistered
  | AdapterRegistered
  | InferenceCompleted
  | InferenceFailed
  | TenantCreated
  | TenantCredited
  | BalanceHeld
  | HoldSettled;

export const inferenceEventTypes: readonly InferenceEvent['type'][] = [
  'BaseModelRegistered',
  'AdapterRegistered',
  'InferenceCompleted',
  'InferenceFailed',
  'TenantCreated',
  'TenantCredited',
  'BalanceHeld',
  'HoldSettled',
];

export const baseModelStream = (id: string) => `base-model-${id}`;
export const adapterStream = (id: string) => `adapter-${id}`;
export const tenantStream = (id: string) => `tenant-${id}`;
export const inferenceStream = (id: string) => `inference-${id}`;

/** The embedded default base: the extractive infini-gram model, always present, needing no file. */
export const INFINI_GRAM_BASE = 'infini-gram';
