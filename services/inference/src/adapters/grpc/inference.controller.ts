import { Controller, Inject, UseFilters } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { Metadata, ServerWritableStream } from '@grpc/grpc-js';
import { Observable, ReplaySubject } from 'rxjs';
import type { Logger } from 'pino';
import type * as api from '@opal/contracts/opal/inference/v1/inference.api';
import { ADMIN_AUTH, bearerOf, createRpcExceptionFilter, LOGGER, type AdminAuth } from '@opal/service-runtime';
import { InferenceServiceError } from '../../domain/inference.errors.js';
import { GenerateHandler, type GenerateOutput } from '../../application/generate.handler.js';
import { ModelCatalog } from '../../application/model-catalog.js';
import { RegisterModelHandler } from '../../application/register-model.handler.js';
import { TenantsHandler } from '../../application/tenants.handler.js';
import { TenantLedger } from '../../application/tenant-ledger.js';
import { inferenceErrorMapper } from './inference-error.mapper.js';

const Filter = createRpcExceptionFilter('inference', inferenceErrorMapper);


function deadlineOf(call: ServerWritableStream<unknown, unknown>): number | undefined {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : undefined;
}

function response(o: GenerateOutput): api.GenerateResponse {
  if (o.type === 'text') return { text: o.text };
  const s = o.summary;
  return {
    summary: {
      inferenceId: s.inferenceId, finishReason: s.finishReason, usage: s.usage, fee: s.fee, timeToFirstTokenMs: s.timings.timeToFirstTokenMs ?? 0,
      tokensPerSecond: s.timings.tokensPerSecond, adapterLoadMs: s.timings.adapterLoadMs, queueMs: s.timings.queueMs, totalMs: s.timings.totalMs,
    },
  };
}

/** gRPC edge of inference: proto message in, command or query, proto message(s) out. */
@Controller()
@UseFilters(Filter)
export class InferenceController {
  constructor(
    private readonly catalog: ModelCatalog,
    private readonly register: RegisterModelHandler,
    private readonly tenants: TenantsHandler,
    private readonly ledger: TenantLedger,
    private readonly generation: GenerateHandler,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(ADMIN_AUTH) private readonly admin: AdminAuth,
  ) {}

  @GrpcMethod('InferenceService', 'ListModels')
  async listModels(r: api.ListModelsRequest): Promise<api.ListModelsResponse> {
    const models = await this.catalog.list(r.baseModelId);
    return { models: models.map((m) => ({ id: m.id, kind: m.kind, parent: m.parent, owner: m.owner, datanetVersions: m.datanetVersions })) };
  }

  @GrpcMethod('InferenceService', 'RegisterBaseModel')
  registerBaseModel(r: api.RegisterBaseModelRequest): Promise<api.RegisterBaseModelResponse> {
    return this.register.registerBaseModel(r);
  }

  @GrpcMethod('InferenceService', 'RegisterAdapter')
  registerAdapter(r: api.RegisterAdapterRequest): Promise<api.RegisterAdapterResponse> {
    return this.register.registerAdapter(r);
  }

  @GrpcMethod('InferenceService', 'CreateTenant')
  createTenant(r: api.CreateTenantRequest): Promise<api.CreateTenantResponse> {
    return this.tenants.create(r);
  }

  @GrpcMethod('InferenceService', 'CreditTenant')
  creditTenant(r: api.CreditTenantRequest): Promise<api.CreditTenantResponse> {
    return this.tenants.credit(r);
  }

  /** An admin call, or the tenant's own: its API key reads its own balance only. */
  @GrpcMethod('InferenceService', 'GetTenant')
  async getTenant(r: api.GetTenantRequest, metadata: Metadata): Promise<api.Tenant> {
    if (!r.tenantId) throw new InferenceServiceError('INVALID_FIELD', 'tenant_id: required');
    if (this.admin.refusal(metadata)) {
      const caller = await this.ledger.authenticate(bearerOf(metadata));
      if (caller !== r.tenantId) throw new InferenceServiceError('PERMISSION_DENIED', `tenant_id: this API key is tenant ${caller}'s; it reads its own tenant only`);
    }
    const t = await this.ledger.tenant(r.tenantId, true);
    const held = t.held ?? '0';
    return { tenantId: t.tenantId, balance: t.balance, inferences: String(t.inferences), held, available: (BigInt(t.balance) - BigInt(held)).toString() };
  }

  /**
   * Refusals (auth, balance, unknown model) fail the call before the stream opens. Once it is open,
   * a client cancel aborts generation. The generation is driven here, whether or not the server
   * subscribes to the answer: a call cancelled while its hold was being taken is never subscribed
   * to, and its generation (which records the outcome and settles the hold) never ran, leaving the
   * hold open until it expired. What was generated before a subscriber came is kept for it.
   */
  @GrpcMethod('InferenceService', 'Generate')
  async generate(r: api.GenerateRequest, metadata: Metadata, call: ServerWritableStream<api.GenerateRequest, api.GenerateResponse>): Promise<Observable<api.GenerateResponse>> {
    const abort = new AbortController();
    const onCancel = () => abort.abort();
    call.on('cancelled', onCancel);
    let stream: AsyncIterable<GenerateOutput>;
    try {
      stream = await this.generation.start({
        apiKey: bearerOf(metadata), model: r.model, prompt: r.prompt, maxTokens: r.maxTokens, temperature: r.temperature, topP: r.topP, topK: r.topK,
        seed: r.seed, stop: r.stop, retrievedContributions: r.retrievedContributions, signal: abort.signal, deadline: deadlineOf(call),
      });
    } catch (e) {
      call.off('cancelled', onCancel);
      throw e;
    }
    if (call.cancelled) abort.abort();
    const answers = new ReplaySubject<api.GenerateResponse>();
    void (async () => {
      try {
        for await (const o of stream) answers.next(response(o));
        answers.complete();
      } catch (e) {
        if (!abort.signal.aborted) this.logger.warn({ err: e }, 'generate failed');
        // As thrown: the service's exception filter maps errors from the stream as it maps the
        // handler's own (a mapped plain object handed on here was taken for an unknown error, INTERNAL).
        answers.error(e);
      } finally {
        call.off('cancelled', onCancel);
      }
    })();
    return new Observable<api.GenerateResponse>((sub) => {
      const s = answers.subscribe(sub);
      return () => {
        s.unsubscribe();
        abort.abort();
      };
    });
  }
}
