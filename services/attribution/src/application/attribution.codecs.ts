import { TypedEventCodec } from '@opal/event-sourcing';
import { attributionEventTypes, type AttributionEvent } from '../domain/attribution.events.js';
import type { DatanetVersionPublished, InferenceCompleted } from '../domain/upstream.events.js';

export const attributionCodec = new TypedEventCodec<AttributionEvent>('opal.attribution.v1', attributionEventTypes);
/** The ingest and inference events attribution reacts to (other types of those packages are skipped). */
export const versionPublishedCodec = new TypedEventCodec<DatanetVersionPublished>('opal.ingest.v1', ['DatanetVersionPublished']);
export const inferenceCompletedCodec = new TypedEventCodec<InferenceCompleted>('opal.inference.v1', ['InferenceCompleted']);

export const PRODUCER = 'attribution';
