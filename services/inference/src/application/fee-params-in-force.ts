import { parameterSpecs } from '@opal/protocol-parameters';

const PLATFORM_FEE = 'fees.platform_fee_bps';

/**
 * The platform fee in force, basis points of a request's model price: governance's genesis value
 * for now, the value GetParameters reports. Reading ParametersChanged is the step that comes with
 * governance's commands; every InferenceCompleted records the fee it charged.
 */
export function platformFeeBpsInForce(): bigint {
  const value = parameterSpecs.find((p) => p.name === PLATFORM_FEE)?.genesis;
  if (value === undefined || !/^(0|[1-9][0-9]{0,3})$/.test(value) || BigInt(value) > 10_000n) {
    throw new Error(`${PLATFORM_FEE}: must be a whole number of basis points from 0 to 10000, got ${JSON.stringify(value)}`);
  }
  return BigInt(value);
}
