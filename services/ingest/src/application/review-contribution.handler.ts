import { Inject, Injectable } from '@nestjs/common';
import { CLOCK, type Clock } from '@opal/service-runtime';
import { decideReview } from '../domain/datanet.decider.js';
import { datanetStream } from '../domain/ingest.events.js';
import { IngestError } from '../domain/ingest.errors.js';
import { DatanetRepository } from './datanet.repository.js';
import { normalizeAddress } from './create-datanet.handler.js';
import { SIGNATURE_VERIFIER, type SignatureVerifier } from './ingest.ports.js';

export type ReviewContributionInput = {
  datanetId: string;
  contributionId: string;
  validator: string;
  approve: boolean;
  comment: string;
  signature: Uint8Array;
};

@Injectable()
export class ReviewContributionHandler {
  constructor(
    private readonly datanets: DatanetRepository,
    @Inject(SIGNATURE_VERIFIER) private readonly signatures: SignatureVerifier,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async execute(input: ReviewContributionInput): Promise<{ status: 'ACCEPTED' | 'REJECTED' }> {
    if (!input.datanetId) throw new IngestError('INVALID_FIELD', 'datanet_id: required');
    if (!/^0x[0-9a-f]{64}$/.test(input.contributionId)) throw new IngestError('INVALID_FIELD', 'contribution_id: must be 0x and 64 hex digits');
    const validator = normalizeAddress('validator', input.validator);
    if (input.signature.length !== 65) throw new IngestError('INVALID_FIELD', `signature: must be 65 bytes, got ${input.signature.length}`);
    const signer = this.signatures.reviewSigner(input.datanetId, input.contributionId, input.approve, input.signature);
    if (signer !== validator.toLowerCase()) throw new IngestError('BAD_SIGNATURE', `signature: not signed by validator ${validator}`);
    const stream = datanetStream(input.datanetId);
    if (!(await this.datanets.peek(stream)).state.created) throw new IngestError('DATANET_NOT_FOUND', `datanet_id: no Datanet ${input.datanetId}`);
    await this.datanets.execute(stream, { now: this.clock.now(), commandId: `review:${input.contributionId}` }, (state) => ({
      events: decideReview(state, { ...input, validator }),
      result: undefined,
    }));
    return { status: input.approve ? 'ACCEPTED' : 'REJECTED' };
  }
}
