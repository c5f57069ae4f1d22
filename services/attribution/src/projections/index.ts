import { receiptsProjection } from './receipts.projection.js';
import { versionsProjection } from './versions.projection.js';

export const attributionProjections = [receiptsProjection, versionsProjection] as const;
