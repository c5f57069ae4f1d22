import type { TenantState } from './tenant.decider.js';

/**
 * A tenant's state as a snapshot (see AggregateDefinition.snapshot). Its stream takes two events per
 * inference (a hold and its settlement) while the state keeps only the open holds, so a busy tenant's
 * load folds the events after its snapshot instead of every inference it ever ran. JSON, amounts as
 * decimal strings. Raise `schema` with any change to the encoding or to what evolveTenant derives.
 */
export const tenantSnapshot = {
  schema: 2,
  /** Events folded past a snapshot before a load saves a new one: a few thousand inferences. */
  every: 10_000,
  encode(s: TenantState): Uint8Array {
    const doc: Encoded = {
      created: s.created,
      apiKeyHash: s.apiKeyHash,
      references: [...s.references].map(([reference, amount]) => [reference, amount.toString()]),
      credited: s.credited.toString(),
      charged: s.charged.toString(),
      holds: [...s.holds].map(([inferenceId, h]) => [inferenceId, h.amount.toString(), h.expiresAt]),
    };
    return new TextEncoder().encode(JSON.stringify(doc));
  },
  decode(bytes: Uint8Array): TenantState {
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as Encoded;
    return {
      created: doc.created,
      apiKeyHash: doc.apiKeyHash,
      references: new Map(doc.references.map(([reference, amount]) => [reference, BigInt(amount)])),
      credited: BigInt(doc.credited),
      charged: BigInt(doc.charged),
      holds: new Map(doc.holds.map(([inferenceId, amount, expiresAt]) => [inferenceId, { amount: BigInt(amount), expiresAt }])),
    };
  },
};

type Encoded = {
  created: boolean;
  apiKeyHash: string;
  references: [reference: string, amount: string][];
  credited: string;
  charged: string;
  holds: [inferenceId: string, amount: string, expiresAt: number][];
};
