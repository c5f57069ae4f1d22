import { createRequire } from 'node:module';
import type { CompiledSchema, SchemaValidator } from '../../application/ingest.ports.js';

type AjvError = { instancePath: string; message?: string };
type AjvFn = ((v: unknown) => boolean) & { errors?: AjvError[] | null };
type AjvInstance = { compile(schema: unknown): AjvFn };
const Ajv = createRequire(import.meta.url)('ajv').default as new (o: object) => AjvInstance;

/** JSON Schema (draft-07) validation with Ajv. */
export class AjvSchemaValidator implements SchemaValidator {
  private readonly ajv = new Ajv({ allErrors: false, strict: false });

  compile(schemaJson: string): CompiledSchema {
    let schema: unknown;
    try {
      schema = JSON.parse(schemaJson);
    } catch {
      throw new Error('not valid JSON');
    }
    const fn = this.ajv.compile(schema);
    return {
      validate(value) {
        if (fn(value)) return undefined;
        const e = fn.errors?.[0];
        return e ? `${e.instancePath || '/'} ${e.message ?? 'is invalid'}` : 'does not match the schema';
      },
    };
  }
}
