import type { AttributionParams } from '@opal/attribution-index';
import { parameterSpecs } from '@opal/protocol-parameters';
import { attributionParamsFrom } from '../domain/attribution-params.js';

/**
 * The attribution thresholds in force: governance's genesis values for now. Reading
 * ParametersChanged (with its effective-from position, so a receipt and its verification use the
 * values that held at the inference) is the next step; every receipt records the values it used.
 */
export function paramsInForce(): AttributionParams {
  return attributionParamsFrom(new Map(parameterSpecs.map((p) => [p.name, p.genesis])));
}
