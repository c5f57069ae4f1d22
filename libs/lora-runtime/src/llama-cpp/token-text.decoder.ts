import type { LlamaModel, Token } from 'node-llama-cpp';

/**
 * Turns tokens into text as they stream. Byte tokens can split a UTF-8 character, so tokens are held
 * while their text ends in an incomplete character (at most 4, the longest UTF-8 sequence).
 */
export class TokenTextDecoder {
  private pending: Token[] = [];
  private context: Token[] = [];
  constructor(private readonly model: LlamaModel) {}

  push(token: Token): { text: string; tokens: number } | null {
    this.pending.push(token);
    const text = this.model.detokenize(this.pending, false, this.context);
    if (text.endsWith('\uFFFD') && this.pending.length < 4) return null;
    return this.take(text);
  }

  flush(): { text: string; tokens: number } | null {
    if (this.pending.length === 0) return null;
    return this.take(this.model.detokenize(this.pending, false, this.context));
  }

  private take(text: string): { text: string; tokens: number } {
    const tokens = this.pending.length;
    this.context = [...this.context, ...this.pending].slice(-8);
    this.pending = [];
    return { text, tokens };
  }
}
