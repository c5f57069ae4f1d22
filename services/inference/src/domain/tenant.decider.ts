import type { RecordedEvent } from '@opal/event-sourcing';
import type { InferenceEvent } from './inference.events.js';
import { InferenceServiceError } from './inference.errors.js';

/** A tenant's write model: its key hash and the credit references already applied (idempotency). */
export type TenantState = { created: boolean; apiKeyHash: string; references: Set<string> };

export const initialTenant = (): TenantState => ({ created: false, apiKeyHash: '', references: new Set() });

export function evolveTenant(state: TenantState, event: RecordedEvent<InferenceEvent>): TenantState {
  switch (event.type) {
    case 'TenantCreated':
      return { ...state, created: true, apiKeyHash: event.data.apiKeyHash };
    case 'TenantCredited':
      state.references.add(event.data.reference);
      return state;
    case 'BaseModelRegistered':
    case 'AdapterRegistered':
    case 'InferenceCompleted':
    case 'InferenceFailed':
      return state;
    default: {
      const exhaustive: never = event;
      return exhaustive;
    }
  }
}

export function decideCreateTenant(state: TenantState, cmd: { tenant: string; apiKeyHash: string }): InferenceEvent[] {
  if (state.created) throw new InferenceServiceError('TENANT_EXISTS', `tenant_id: ${cmd.tenant} already exists`);
  return [{ type: 'TenantCreated', data: cmd }];
}

/** Credits once per reference: a retried credit (same deposit or payment) changes nothing. */
export function decideCreditTenant(state: TenantState, cmd: { tenant: string; amount: bigint; reference: string }): InferenceEvent[] {
  if (!state.created) throw new InferenceServiceError('TENANT_NOT_FOUND', `tenant_id: no tenant ${cmd.tenant}`);
  if (cmd.amount <= 0n) throw new InferenceServiceError('INVALID_FIELD', 'amount: must be a positive number of base units');
  if (state.references.has(cmd.reference)) return [];
  return [{ type: 'TenantCredited', data: { tenant: cmd.tenant, amount: cmd.amount.toString(), reference: cmd.reference } }];
}
