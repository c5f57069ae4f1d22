import { canonicalJson, sha256Hex, type RecordedEvent } from '@opal/event-sourcing';
import type { AdapterRegistered, BaseModelRegistered, InferenceEvent } from './inference.events.js';
import { InferenceServiceError } from './inference.errors.js';

/**
 * A base-model or adapter stream: registered once, never changed (a new file is a new id).
 * `registration`: a digest of what was registered, to tell a retry of the same registration from another.
 */
export type RegistrationState = { readonly registered: boolean; readonly registration?: string };

export const initialRegistration = (): RegistrationState => ({ registered: false });

/** A registration's fields as a digest, comparable whatever their order (and of a fixed size in the cache). */
const fieldsOf = (data: object) => sha256Hex(canonicalJson(data));

export function evolveRegistration(state: RegistrationState, event: RecordedEvent<InferenceEvent>): RegistrationState {
  switch (event.type) {
    case 'BaseModelRegistered':
    case 'AdapterRegistered':
      return { registered: true, registration: fieldsOf(event.data) };
    case 'InferenceCompleted':
    case 'InferenceFailed':
    case 'TenantCreated':
    case 'TenantCredited':
    case 'BalanceHeld':
    case 'HoldSettled':
      return state;
    default: {
      const exhaustive: never = event;
      return exhaustive;
    }
  }
}

/** A validated base model (the file was read and checked by the handler). */
export type RegisterBaseModel = BaseModelRegistered['data'];
export type RegisterAdapter = AdapterRegistered['data'];

/** Registers once; the same registration again (a retry after a lost answer) changes nothing. */
export function decideRegisterBaseModel(state: RegistrationState, cmd: RegisterBaseModel): InferenceEvent[] {
  if (state.registered && state.registration === fieldsOf(cmd)) return [];
  if (state.registered) throw new InferenceServiceError('BASE_MODEL_EXISTS', `base_model_id: ${cmd.baseModelId} is already registered`);
  return [{ type: 'BaseModelRegistered', data: cmd }];
}

export function decideRegisterAdapter(state: RegistrationState, cmd: RegisterAdapter): InferenceEvent[] {
  if (state.registered && state.registration === fieldsOf(cmd)) return [];
  if (state.registered) throw new InferenceServiceError('ADAPTER_EXISTS', `adapter_id: ${cmd.adapterId} is already registered`);
  return [{ type: 'AdapterRegistered', data: cmd }];
}
