import { GgufError, validateAdapter, validateBaseModel, type AdapterInfo, type BaseModelInfo } from '@opal/gguf';
import { InferenceServiceError } from '../domain/inference.errors.js';

/** Runs a @opal/gguf check and turns any failure into a registration error that names the field. */
export async function checkedModelFile<T>(what: string, check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (e) {
    if (e instanceof GgufError) throw new InferenceServiceError('INVALID_MODEL_FILE', `${what}: ${e.code}: ${e.message}`);
    const err = e as NodeJS.ErrnoException;
    throw new InferenceServiceError('INVALID_MODEL_FILE', `${what}: cannot read the file (${err.code ?? err.message})`);
  }
}

/** Base model headers by path: adapter registration checks shapes against the base's tensors. */
export class BaseModelInfoCache {
  private readonly infos = new Map<string, Promise<BaseModelInfo>>();

  base(path: string): Promise<BaseModelInfo> {
    let p = this.infos.get(path);
    if (!p) {
      p = checkedModelFile('path', () => validateBaseModel(path));
      this.infos.set(path, p);
      p.catch(() => this.infos.delete(path));
    }
    return p;
  }

  async adapter(path: string, basePath: string): Promise<AdapterInfo> {
    const base = await this.base(basePath);
    return checkedModelFile('path', () => validateAdapter(path, base));
  }
}
