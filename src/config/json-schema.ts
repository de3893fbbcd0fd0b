/**
 * The JSON Schema of `pgwarden.yaml`, generated from the zod schema the loader validates with
 * (`z.toJSONSchema`, input side: what a user writes, before defaults and duration parsing), so
 * editors can check and complete the file. `pgwarden config schema` prints it; the copy in
 * `schema/pgwarden.schema.json` is kept equal to it by a test.
 *
 * The schema checks shapes and names only: the cross-field rules (checks.ts) and `${env:…}` /
 * `${file:…}` references are the loader's (`pgwarden check`).
 */
import { z } from 'zod';
import { configSchema } from './schema.ts';

export function configJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    title: 'pgwarden.yaml',
    description: 'Configuration of the pgwarden PostgreSQL gateway (validate fully with: pgwarden check --config FILE).',
    ...rest,
  };
}

/** The schema file's text (two-space JSON and a final newline). */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
