import type { FileHandle } from 'node:fs/promises';

type Pending = { frames: Buffer[]; resolve: () => void; reject: (e: unknown) => void };

/**
 * Group commit onto an append-only file: everything queued since the last flush goes out in one
 * writev and one fdatasync, and only then do those appends resolve, in order. After a failed
 * write the file refuses every later append, since callers may already have indexed the lost bytes.
 */
export class GroupCommitFile {
  private pending: Pending[] = [];
  private flushing = false;
  private failed: unknown;
  private idle: (() => void)[] = [];

  constructor(
    private readonly handle: FileHandle,
    private readonly fsync: boolean,
    /** Runs after each flushed group, before the appends resolve. */
    private readonly onDurable: (frames: number) => void = () => {},
  ) {}

  append(frames: Buffer[]): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ frames, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const group = this.pending;
      this.pending = [];
      const frames = group.flatMap((g) => g.frames);
      try {
        if (this.failed) throw this.failed;
        await this.handle.writev(frames);
        if (this.fsync) await this.handle.datasync();
      } catch (error) {
        this.failed = error;
        for (const g of group) g.reject(error);
        continue;
      }
      this.onDurable(frames.length);
      for (const g of group) g.resolve();
    }
    this.flushing = false;
    for (const f of this.idle.splice(0)) f();
  }

  /** Resolves once nothing is queued or being written. */
  drained(): Promise<void> {
    return this.flushing ? new Promise((r) => this.idle.push(r)) : Promise.resolve();
  }
}
