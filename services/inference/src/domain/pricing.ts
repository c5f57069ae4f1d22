import type { FeeQuote } from './inference.events.js';

export type AdapterPrices = { readonly pricePer1kInput: bigint; readonly pricePer1kOutput: bigint };

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

/**
 * Fee of a request in token base units: per-1,000-token prices, rounded up per side so a
 * one-token request is never free, and the governed platform fee on top: `platformFeeBps` basis
 * points of that model price, rounded up (none on a model priced at 0).
 */
export function quoteFee(prices: AdapterPrices, promptTokens: number, completionTokens: number, platformFeeBps = 0n): { quote: FeeQuote; total: bigint } {
  const input = ceilDiv(prices.pricePer1kInput * BigInt(promptTokens), 1000n);
  const output = ceilDiv(prices.pricePer1kOutput * BigInt(completionTokens), 1000n);
  const platformFee = ceilDiv((input + output) * platformFeeBps, 10_000n);
  const total = input + output + platformFee;
  return { quote: { inputFee: input.toString(), outputFee: output.toString(), platformFee: platformFee.toString(), total: total.toString() }, total };
}

/** Parses a non-negative decimal amount of base units. */
export function parseAmount(value: string): bigint | undefined {
  return /^(0|[1-9][0-9]{0,77})$/.test(value) ? BigInt(value) : undefined;
}
