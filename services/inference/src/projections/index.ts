import type { DomainEvent, Projection } from '@opal/event-sourcing';
import { modelsProjection } from './models.projection.js';
import { tenantsProjection } from './tenants.projection.js';
import { datanetVersionsProjection } from './datanet-versions.projection.js';

export const inferenceProjections: readonly Projection<DomainEvent>[] = [modelsProjection, tenantsProjection, datanetVersionsProjection] as unknown as Projection<DomainEvent>[];
