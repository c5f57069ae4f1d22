import { parameterSpecs } from '@opal/protocol-parameters';

/** The platform fee in force at genesis, basis points of a request's model price (GetParameters' `fees.platform_fee_bps`). */
export const platformFeeBps = BigInt(parameterSpecs.find((p) => p.name === 'fees.platform_fee_bps')!.genesis);

/** What a request whose model price is `modelPrice` costs: the price and the platform fee on it, rounded up. */
export function withPlatformFee(modelPrice: bigint): bigint {
  return modelPrice + (modelPrice * platformFeeBps + 9_999n) / 10_000n;
}
