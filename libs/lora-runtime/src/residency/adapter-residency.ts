import type { GenerateChunk, GenerateRequest, InferenceEngine } from '../inference-engine.port.js';
import { InferenceError } from '../inference.errors.js';
import { HostAdapterCache } from './host-adapter.cache.js';

export type AdapterRecord = {
  readonly id: string;
  readonly baseModelId: string;
  readonly path: string;
  /** sha256 recorded at registration; the host tier refuses bytes that differ. */
  readonly contentHash?: string;
  readonly scale?: number;
};

export type AdapterResidencyOptions = {
  readonly engine: InferenceEngine;
  /** Adapters resident in the engine per base model. */
  readonly maxResidentPerBase: number;
  /** Adapters held in host memory (all bases); 0 disables the tier. Defaults to 4 × maxResidentPerBase. */
  readonly maxHostAdapters?: number;
  readonly stagingDir?: string;
};

export type AdapterTier = 'disk' | 'host' | 'loading' | 'resident';

export type AdapterLease = { readonly adapterId: string; readonly loadMs: number; release(): void };

type Resident = {
  readonly id: string;
  state: 'loading' | 'resident';
  ready: Promise<void>;
  leases: number;
  lastUsed: number;
  enginePath: string | null;
};

export type ResidencyStats = {
  readonly resident: number;
  readonly loading: number;
  readonly waitingRequests: number;
  readonly coldLoads: number;
  readonly evictions: number;
  readonly hostHits: number;
  readonly hostMisses: number;
};

/**
 * Moves adapters disk -> host memory -> engine with LRU eviction, pinning and a per-base cap.
 * A cold load runs beside generation: requests for resident adapters never wait on it, and requests
 * for the loading adapter wait on that one load only. An adapter with live leases is never evicted.
 */
export class AdapterResidency {
  private readonly records = new Map<string, AdapterRecord>();
  private readonly pinned = new Set<string>();
  private readonly perBase = new Map<string, Map<string, Resident>>();
  private readonly host: HostAdapterCache;
  private readonly capacityWaiters = new Map<string, (() => void)[]>();
  private tick = 0;
  private waiting = 0;
  private coldLoads = 0;
  private evictions = 0;

  constructor(private readonly opts: AdapterResidencyOptions) {
    if (opts.maxResidentPerBase < 1) throw new InferenceError('INVALID_ARGUMENT', 'maxResidentPerBase must be at least 1');
    this.host = new HostAdapterCache({ capacity: opts.maxHostAdapters ?? opts.maxResidentPerBase * 4, stagingDir: opts.stagingDir });
  }

  register(record: AdapterRecord): void {
    this.records.set(record.id, record);
  }

  async unregister(adapterId: string): Promise<void> {
    const rec = this.records.get(adapterId);
    if (!rec) return;
    this.records.delete(adapterId);
    this.pinned.delete(adapterId);
    const r = this.tier(rec.baseModelId).get(adapterId);
    if (r && r.leases === 0) await this.evict(rec.baseModelId, r);
  }

  get registered(): number {
    return this.records.size;
  }

  /** A pinned adapter is never evicted; pins per base must leave at least one evictable slot. */
  pin(adapterId: string): void {
    const rec = this.record(adapterId);
    const pinnedHere = [...this.pinned].filter((id) => this.records.get(id)?.baseModelId === rec.baseModelId).length;
    if (!this.pinned.has(adapterId) && pinnedHere + 1 >= this.opts.maxResidentPerBase) {
      throw new InferenceError('CAPACITY_EXHAUSTED', `base ${rec.baseModelId}: pinning ${adapterId} would leave no slot for other adapters`);
    }
    this.pinned.add(adapterId);
  }

  unpin(adapterId: string): void {
    this.pinned.delete(adapterId);
    const rec = this.records.get(adapterId);
    if (rec) this.wakeCapacity(rec.baseModelId);
  }

  tierOf(adapterId: string): AdapterTier {
    const rec = this.record(adapterId);
    const r = this.tier(rec.baseModelId).get(adapterId);
    if (r) return r.state;
    return this.host.has(adapterId) ? 'host' : 'disk';
  }

  /** Engine-resident adapters of a base, least recently used first. */
  residentAdapters(baseModelId: string): string[] {
    return [...this.tier(baseModelId).values()].filter((r) => r.state === 'resident').sort((a, b) => a.lastUsed - b.lastUsed).map((r) => r.id);
  }

  stats(): ResidencyStats {
    let resident = 0;
    let loading = 0;
    for (const t of this.perBase.values()) for (const r of t.values()) r.state === 'resident' ? resident++ : loading++;
    return { resident, loading, waitingRequests: this.waiting, coldLoads: this.coldLoads, evictions: this.evictions, hostHits: this.host.hits, hostMisses: this.host.misses };
  }

  /**
   * Makes the adapter resident and holds it there until `release()`. Resolves null when the signal
   * fires first (the load itself goes on for whoever else needs it).
   */
  async acquire(adapterId: string, signal?: AbortSignal): Promise<AdapterLease | null> {
    const rec = this.record(adapterId);
    const tier = this.tier(rec.baseModelId);
    const t0 = performance.now();
    let r = tier.get(adapterId);
    if (!r) {
      r = { id: adapterId, state: 'loading', ready: Promise.resolve(), leases: 0, lastUsed: ++this.tick, enginePath: null };
      tier.set(adapterId, r);
      r.ready = this.load(rec, r);
    }
    // Hold a lease while waiting so the adapter cannot be evicted between load and use.
    r.leases++;
    if (r.state === 'loading') {
      this.waiting++;
      try {
        const ok = await raceAbort(r.ready, signal);
        if (!ok) {
          this.releaseLease(rec.baseModelId, r);
          return null;
        }
      } catch (e) {
        r.leases--;
        throw e;
      } finally {
        this.waiting--;
      }
    }
    r.lastUsed = ++this.tick;
    const loadMs = performance.now() - t0;
    let released = false;
    return {
      adapterId,
      loadMs,
      release: () => {
        if (released) return;
        released = true;
        this.releaseLease(rec.baseModelId, r);
      },
    };
  }

  /** Generates with the request's adapter made resident first; timings include the adapter load. */
  async *generate(req: GenerateRequest): AsyncGenerator<GenerateChunk> {
    if (!req.adapterId) {
      yield* this.opts.engine.generate(req);
      return;
    }
    const lease = await this.acquire(req.adapterId, req.signal);
    if (!lease) {
      const zero = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
      yield { type: 'done', finishReason: 'cancelled', stopTokens: 0, usage: zero, timings: { queueMs: 0, adapterLoadMs: 0, timeToFirstTokenMs: null, totalMs: 0, tokensPerSecond: 0 } };
      return;
    }
    try {
      for await (const c of this.opts.engine.generate(req)) {
        if (c.type !== 'done' || lease.loadMs === 0) {
          yield c;
          continue;
        }
        const t = c.timings;
        yield {
          ...c,
          timings: {
            ...t,
            adapterLoadMs: lease.loadMs,
            timeToFirstTokenMs: t.timeToFirstTokenMs === null ? null : t.timeToFirstTokenMs + lease.loadMs,
            totalMs: t.totalMs + lease.loadMs,
          },
        };
      }
    } finally {
      lease.release();
    }
  }

  private async load(rec: AdapterRecord, r: Resident): Promise<void> {
    const tier = this.tier(rec.baseModelId);
    try {
      await this.makeRoom(rec.baseModelId, r);
      r.enginePath = await this.host.stage(rec.id, rec.path, rec.contentHash);
      await this.opts.engine.loadAdapter({ id: rec.id, baseModelId: rec.baseModelId, path: r.enginePath, scale: rec.scale });
      r.state = 'resident';
      this.coldLoads++;
    } catch (e) {
      tier.delete(rec.id);
      if (r.enginePath) this.host.release(r.enginePath);
      this.wakeCapacity(rec.baseModelId);
      throw e;
    }
  }

  private async makeRoom(baseModelId: string, self: Resident): Promise<void> {
    const tier = this.tier(baseModelId);
    for (;;) {
      if (tier.size - 1 < this.opts.maxResidentPerBase) return;
      let victim: Resident | null = null;
      for (const r of tier.values()) {
        if (r === self || r.state !== 'resident' || r.leases > 0 || this.pinned.has(r.id)) continue;
        if (!victim || r.lastUsed < victim.lastUsed) victim = r;
      }
      if (victim) {
        await this.evict(baseModelId, victim);
        continue;
      }
      // Everything is pinned, loading or leased: wait for a lease to end.
      await new Promise<void>((resolve) => {
        const list = this.capacityWaiters.get(baseModelId) ?? [];
        list.push(resolve);
        this.capacityWaiters.set(baseModelId, list);
      });
    }
  }

  private async evict(baseModelId: string, r: Resident): Promise<void> {
    // Out of the map first, so concurrent loads count the slot as free.
    this.tier(baseModelId).delete(r.id);
    this.evictions++;
    await this.opts.engine.unloadAdapter(baseModelId, r.id);
    if (r.enginePath) this.host.release(r.enginePath);
  }

  private releaseLease(baseModelId: string, r: Resident): void {
    r.leases--;
    if (r.leases === 0) this.wakeCapacity(baseModelId);
  }

  private wakeCapacity(baseModelId: string): void {
    const list = this.capacityWaiters.get(baseModelId);
    if (!list?.length) return;
    this.capacityWaiters.set(baseModelId, []);
    for (const w of list) w();
  }

  private record(adapterId: string): AdapterRecord {
    const rec = this.records.get(adapterId);
    if (!rec) throw new InferenceError('ADAPTER_NOT_FOUND', `adapter ${adapterId} is not registered`);
    return rec;
  }

  private tier(baseModelId: string): Map<string, Resident> {
    let t = this.perBase.get(baseModelId);
    if (!t) this.perBase.set(baseModelId, (t = new Map()));
    return t;
  }
}

/** Resolves true when `p` settles first, false when the signal fires first; rejects with `p`. */
function raceAbort(p: Promise<void>, signal?: AbortSignal): Promise<boolean> {
  if (!signal) return p.then(() => true);
  if (signal.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve, reject) => {
    const onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
