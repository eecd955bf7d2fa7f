/**
 * Reading the environment by the schema (config/schema.ts): each leaf's variable is parsed by its
 * type (an integer, a 1/true/0/false flag, one of a list, a string); unset or empty takes the
 * leaf's default; then the whole is validated once with Ajv, and every error names the variable
 * (`MAX_IN_FLIGHT must be ≥ 1`), never a field path. Reads only the `env` it is given.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { VariableNote } from './schema.ts';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

interface SchemaNode extends Partial<VariableNote> {
  readonly type?: string;
  readonly default?: unknown;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly anyOf?: readonly { readonly const?: unknown }[];
}

/** A variable of the schema: the field it sets (a JSON pointer, as Ajv reports it) and its leaf. */
export interface Variable {
  readonly path: string;
  readonly env: string;
  readonly default?: unknown;
  readonly shown?: string;
}

/** Every variable of a schema, in schema order (a variable may set several fields). */
export function variablesOf(schema: TSchema, path = ''): Variable[] {
  const node = schema as SchemaNode;
  if (node.env !== undefined) {
    return [
      {
        path,
        env: node.env,
        ...('default' in node ? { default: node.default } : {}),
        ...(node.shown === undefined ? {} : { shown: node.shown }),
      },
    ];
  }
  if (node.type === 'object' && node.properties) {
    return Object.entries(node.properties).flatMap(([name, child]) =>
      variablesOf(child as TSchema, `${path}/${name}`),
    );
  }
  return []; // derived from the others by the loader
}

/**
 * What the environment says for a schema's fields: objects built whole, a leaf's value parsed or
 * defaulted, `undefined` where the default is computed by the loader (or the field is derived).
 */
export type Draft<T> = {
  -readonly [K in keyof T]: T[K] extends Record<string, unknown> ? Draft<T[K]> : T[K] | undefined;
};

function parse(node: SchemaNode, name: string, raw: string): unknown {
  if (node.type === 'integer') {
    const value = Number(raw);
    if (!Number.isInteger(value)) throw new ConfigError(`${name} must be an integer, got "${raw}"`);
    return value;
  }
  if (node.type === 'boolean') {
    if (raw === '1' || raw === 'true') return true;
    if (raw === '0' || raw === 'false') return false;
    throw new ConfigError(`${name} must be 1/true or 0/false, got "${raw}"`);
  }
  if (node.anyOf) {
    const choices = node.anyOf.map((option) => String(option.const));
    if (!choices.includes(raw))
      throw new ConfigError(`${name} must be one of ${choices.join(', ')}, got "${raw}"`);
    return raw;
  }
  return raw;
}

function readNode(node: SchemaNode, env: NodeJS.ProcessEnv): unknown {
  if (node.env !== undefined) {
    const raw = env[node.env];
    return raw === undefined || raw === '' ? node.default : parse(node, node.env, raw);
  }
  if (node.type === 'object' && node.properties) {
    return Object.fromEntries(
      Object.entries(node.properties).map(([name, child]) => [name, readNode(child, env)]),
    );
  }
  return undefined;
}

/** Reads the schema's variables from `env` (only those). */
export function readVariables<T extends TSchema>(schema: T, env: NodeJS.ProcessEnv): Draft<Static<T>> {
  return readNode(schema, env) as Draft<Static<T>>;
}

// compiled on first use: a worker thread that only reads its ID keys compiles nothing it does not need
const compiled = new WeakMap<TSchema, ValidateFunction>();
let ajv: Ajv | undefined;

function validatorOf(schema: TSchema): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    ajv ??= new Ajv({ allErrors: true, keywords: ['env', 'shown'] });
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

function problem(error: ErrorObject): string {
  const limit = (error.params as { limit?: unknown }).limit;
  switch (error.keyword) {
    case 'minimum':
      return `must be ≥ ${String(limit)}`;
    case 'maximum':
      return `must be ≤ ${String(limit)}`;
    case 'minLength':
      return limit === 1 ? 'must be set' : `must be at least ${String(limit)} characters long`;
    case 'pattern':
      return `must match ${String((error.params as { pattern?: unknown }).pattern)}`;
    default:
      return error.message ?? error.keyword;
  }
}

/** The draft, checked against the schema; a ConfigError naming every variable at fault. */
export function validated<T extends TSchema>(schema: T, draft: Draft<Static<T>>): Static<T> {
  const validate = validatorOf(schema);
  if (validate(draft)) return draft;
  const names = new Map(variablesOf(schema).map((v) => [v.path, v.env]));
  const problems = new Set(
    (validate.errors ?? []).map(
      (e) => `${names.get(e.instancePath) ?? (e.instancePath || '/')} ${problem(e)}`,
    ),
  );
  throw new ConfigError([...problems].join('; '));
}
