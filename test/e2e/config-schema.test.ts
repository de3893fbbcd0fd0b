/**
 * The JSON Schema editors use for pgwarden.yaml: the committed copy is what `pgwarden config
 * schema` prints, and a standard validator (Ajv, draft 2020-12) accepts the demo's config and the
 * README's examples and rejects a wrong key, as the loader does.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parseDocument } from 'yaml';
import { configJsonSchema, configJsonSchemaText, parseConfig } from '../../src/config/index.ts';
import { configText } from '../../src/demo/demo-files.ts';
import { pgwarden } from '../helpers/clients.ts';

const SCHEMA_FILE = new URL('../../schema/pgwarden.schema.json', import.meta.url);
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

// Formats (URLs) and the cross-field rules are the loader's; editors check shapes and names.
const validate = new Ajv2020({ strict: false, allErrors: true, validateFormats: false }).compile(configJsonSchema());

function errorsOf(data: unknown): string[] {
  return validate(data) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
}

const BASE = { upstreams: { app: { url: 'postgres://pgwarden@db:5432/app' } }, identity: { issuers: [{ issuer: 'https://idp.example.com', audience: 'pgwarden' }] } };

test('the committed schema is what pgwarden config schema prints (regenerate: pgwarden config schema > schema/pgwarden.schema.json)', async () => {
  assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), configJsonSchemaText());
  const r = await pgwarden(['config', 'schema']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, configJsonSchemaText());
});

test("the demo's config is valid under the schema", () => {
  for (const kind of ['postgres', 'pglite'] as const) {
    const text = configText({ dataDir: '/tmp/d', port: 6432, httpPort: 8080, issuer: 'http://127.0.0.1:8080/dev', kind, upstreamUrl: 'postgres://pgwarden@127.0.0.1:5432/shop', tlsMode: 'disable' });
    assert.deepEqual(errorsOf(parseDocument(text).toJS()), [], kind);
  }
});

test('every README example of a config section is valid under the schema', () => {
  const blocks = [...README.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
  const sections = new Set(Object.keys((configJsonSchema().properties ?? {}) as object));
  let checked = 0;
  for (const block of blocks) {
    const data = parseDocument(block).toJS() as Record<string, unknown> | null;
    if (!data || typeof data !== 'object' || !Object.keys(data).every((k) => sections.has(k))) continue;
    const doc = { ...BASE, ...data };
    assert.deepEqual(errorsOf(doc), [], block.split('\n')[0]);
    checked++;
  }
  assert.ok(checked >= 7, `only ${checked} README config examples found`);
});

test('a wrong key is rejected by the schema, as by the loader', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a misspelt top-level section', { ...BASE, polices: [] }, /^\/ must NOT have additional properties \(polices\)$/],
    ['a misspelt upstream key', { ...BASE, upstreams: { app: { url: 'postgres://pgwarden@db/app', pasword: 'x' } } }, /^\/upstreams\/app must NOT have additional properties \(pasword\)$/],
    ['a wrong masker', { ...BASE, masking: { rules: [{ column: 'public.t.c', with: 'scramble' }] } }, /^\/masking\/rules\/0\/with must be equal to one of the allowed values$/],
    ['a required key missing', { upstreams: BASE.upstreams }, /^\/ must have required property 'identity'$/],
  ];
  for (const [what, doc, expected] of cases) {
    const errors = errorsOf(doc);
    assert.ok(errors.some((e) => expected.test(e)), `${what}: ${errors.join('; ')}`);
    assert.throws(() => parseConfig(JSON.stringify(doc), 'pgwarden.yaml', {}), /pgwarden\.yaml/, what);
  }
  assert.deepEqual(errorsOf(BASE), []);
  // A constrained string may hold a reference (resolved before the loader validates it), but a
  // plain value must still meet the constraint.
  const url = (u: string) => ({ ...BASE, upstreams: { app: { url: u } } });
  assert.deepEqual(errorsOf(url('${env:APP_DB_URL}')), []);
  assert.deepEqual(errorsOf(url('postgres://pgwarden@${env:DB_HOST}/app')), []);
  assert.ok(errorsOf(url('mysql://db/app')).length > 0, 'a URL that is not postgres:// is rejected');
  assert.doesNotThrow(() => parseConfig(JSON.stringify(BASE), 'pgwarden.yaml', {}));
});
