import type { DomainEvent } from '@opal/event-sourcing';

export type Usage = { promptTokens: number; completionTokens: number };
export type FeeQuote = { inputFee: string; outputFee: string; platformFee: string; total: string };

export type InferenceEvent =
  | DomainEvent<'BaseModelRegistered', { baseModelId: string; kind: string; uri: string; contentHash: string; contextSize: number; architecture: string }>
  | DomainEvent<
      'AdapterRegistered',
      { adapterId: string; baseModelId: string; owner: string; uri: string; contentHash: string; datanetVersions: string[]; pricePer1kInput: string; pricePer1kOutput: string }
    >
  | DomainEvent<
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
      }
    >
  | DomainEvent<'InferenceFailed', { inferenceId: string; tenant: string; adapterId: string; reason: string; detail: string }>
  | DomainEvent<'TenantCredited', { tenant: string; amount: string; reference: string }>;

export const inferenceEventTypes: readonly InferenceEvent['type'][] = [
  'BaseModelRegistered',
  'AdapterRegistered',
  'InferenceCompleted',
  'InferenceFailed',
  'TenantCredited',
];
