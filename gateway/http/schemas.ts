/**
 * Request schemas are TypeBox (JSON Schema) objects compiled once by Ajv: one source for
 * validation, the handlers' TypeScript types, and /openapi.json. Objects refuse unknown fields
 * (API.md: no mass assignment) because every object schema here is built with `strictObject`.
 */
import { Type, type TObject, type TProperties, type TSchema, type Static } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

export { Type, type TSchema, type Static };

export function strictObject<P extends TProperties>(
  properties: P,
  options: { description?: string } = {},
): TObject<P> {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

const ajv = new Ajv({
  allErrors: false,
  coerceTypes: false,
  useDefaults: false,
  removeAdditional: false,
  strict: true,
});
(addFormats as unknown as (ajv: Ajv) => void)(ajv);

const compiled = new WeakMap<TSchema, ValidateFunction>();

export function validatorFor(schema: TSchema): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

/** Field-level reasons for VALIDATION_FAILED (paths and keywords only, never the values). */
export function describeErrors(
  errors: readonly ErrorObject[] | null | undefined,
): { field: string; problem: string }[] {
  return (errors ?? []).map((error) => ({
    field:
      error.keyword === 'additionalProperties'
        ? `${error.instancePath}/${String((error.params as { additionalProperty?: string }).additionalProperty)}`
        : error.instancePath || '/',
    problem: error.keyword === 'additionalProperties' ? 'unknown field' : (error.message ?? error.keyword),
  }));
}
