/**
 * Holds back streamed text while it could still become a stop sequence, so a stop string never
 * reaches the client, and reports how many tokens were held when a stop matched.
 */
export class StopSequenceFilter {
  private held = '';
  private heldTokens = 0;
  private readonly maxLen: number;

  constructor(private readonly stops: readonly string[]) {
    this.maxLen = Math.max(0, ...stops.map((s) => s.length));
  }

  /** Feeds text of `tokens` tokens; returns text safe to emit and whether a stop matched. */
  push(text: string, tokens: number): { emit: string; emitTokens: number; stopped: boolean; stopTokens: number } {
    if (this.stops.length === 0) return { emit: text, emitTokens: tokens, stopped: false, stopTokens: 0 };
    this.held += text;
    this.heldTokens += tokens;
    let at = -1;
    for (const s of this.stops) {
      const i = this.held.indexOf(s);
      if (i !== -1 && (at === -1 || i < at)) at = i;
    }
    if (at !== -1) {
      // Tokens that carried the text before the stop are streamed; the rest formed the stop.
      const emit = this.held.slice(0, at);
      const emitTokens = emit.length > 0 ? Math.max(0, this.heldTokens - 1) : 0;
      const stopTokens = this.heldTokens - emitTokens;
      this.held = '';
      this.heldTokens = 0;
      return { emit, emitTokens, stopped: true, stopTokens };
    }
    // Keep the longest suffix that is a prefix of some stop sequence.
    let keep = 0;
    for (let k = Math.min(this.maxLen - 1, this.held.length); k > 0; k--) {
      const tail = this.held.slice(this.held.length - k);
      if (this.stops.some((s) => s.startsWith(tail))) {
        keep = k;
        break;
      }
    }
    if (keep === 0) {
      const out = { emit: this.held, emitTokens: this.heldTokens, stopped: false, stopTokens: 0 };
      this.held = '';
      this.heldTokens = 0;
      return out;
    }
    // The held tail belongs to the most recent token(s); release the rest with all other tokens.
    const emit = this.held.slice(0, this.held.length - keep);
    const emitTokens = emit.length > 0 ? this.heldTokens - 1 : 0;
    this.held = this.held.slice(this.held.length - keep);
    this.heldTokens -= emitTokens;
    return { emit, emitTokens, stopped: false, stopTokens: 0 };
  }

  /** At the end of a stream: whatever is still held is plain text. */
  flush(): { emit: string; emitTokens: number } {
    const out = { emit: this.held, emitTokens: this.heldTokens };
    this.held = '';
    this.heldTokens = 0;
    return out;
  }
}
