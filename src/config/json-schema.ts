/**
 * The JSON Schema of `pgwarden.yaml`, generated from the zod schema the loader validates with
 * (`z.toJSONSchema`, input side: what a user writes, before defaults and duration parsing), so
 * editors can check and complete the file. `pgwarden config schema` prints it; the copy in
 * `schema/pgwarden.schema.json` is kept equal to it by a test.
 *
 * The schema checks shapes and names only: the cross-field rules (checks.ts) are the loader's
 * (`pgwarden check`). A string value holding a `${env:…}` or `${file:…}` reference is resolved
 * before validation, so wherever a string has a constraint (a pattern, a length, a list of values)
 * the schema also accepts a string with a reference in it.
 */
import { z } from 'zod';
import { configSchema } from './schema.ts';

export function configJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  const withRefs = allowReferences(rest) as Record<string, unknown>;
  return {
    $schema,
    title: 'pgwarden.yaml',
    description: 'Configuration of the pgwarden PostgreSQL gateway (validate fully with: pgwarden check --config FILE).',
    ...withRefs,
    $defs: { ...((withRefs.$defs as object | undefined) ?? {}), reference: REFERENCE },
  };
}

const REFERENCE = {
  type: 'string',
  pattern: '\\$\\{(env|file):[^}]+\\}',
  description: 'A ${env:NAME} or ${file:path} reference, resolved when the config is loaded.',
};

const CONSTRAINTS = ['pattern', 'minLength', 'maxLength', 'enum', 'const', 'format'];

/** Every constrained string schema, as "that, or a string with a reference" (keys are never interpolated). */
function allowReferences(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(allowReferences);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'propertyNames' ? v : allowReferences(v);
  if (out.type !== 'string' || !CONSTRAINTS.some((c) => c in out)) return out;
  const { default: dflt, description, ...constrained } = out;
  return { ...(dflt !== undefined && { default: dflt }), ...(description !== undefined && { description }), anyOf: [constrained, { $ref: '#/$defs/reference' }] };
}

/** The schema file's text (two-space JSON and a final newline). */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
