import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writer, BE, type FieldDescription } from '../protocol/index.ts';
import { cellValue, columnsOf, rowObjects, typeName } from './values.ts';
import { decodeDataRow } from '../protocol/index.ts';
import { refusal } from './tools.ts';
import { metadataUrl, resourceMetadata } from './auth.ts';

const field = (name: string, typeOid: number): FieldDescription => ({ name, tableOid: 0, attnum: 0, typeOid, typeSize: -1, typeMod: -1, format: 0 });

function dataRow(cells: (string | null)[]): Buffer {
  const w = new Writer(64).message(BE.DataRow).int16(cells.length);
  for (const c of cells) {
    if (c === null) w.int32(-1);
    else {
      const b = Buffer.from(c);
      w.int32(b.length).bytes(b);
    }
  }
  return w.end();
}

describe('result values for a model', () => {
  const cases: [string, string | null, number, unknown][] = [
    ['true is a boolean', 't', 16, true],
    ['false is a boolean', 'f', 16, false],
    ['int4 is a number', '42', 23, 42],
    ['int2 is a number', '-7', 21, -7],
    ['int8 stays text: no precision is lost', '9007199254740993', 20, '9007199254740993'],
    ['numeric stays text', '3.10', 1700, '3.10'],
    ['float8 is a number', '2.5', 701, 2.5],
    ['NaN stays text (not JSON)', 'NaN', 701, 'NaN'],
    ['jsonb is parsed', '{"a": [1, 2]}', 3802, { a: [1, 2] }],
    ['a masked json cell stays text', '****', 114, '****'],
    ['a masked integer is whatever the pipeline sent', '****', 25, '****'],
    ['NULL is null', null, 23, null],
    ['dates stay text', '2024-01-02', 1082, '2024-01-02'],
  ];
  for (const [name, text, oid, want] of cases) {
    it(name, () => assert.deepEqual(cellValue(text, oid), want));
  }

  it('names common types and shows the OID of others', () => {
    assert.equal(typeName(1043), 'character varying');
    assert.equal(typeName(1184), 'timestamptz');
    assert.equal(typeName(99999), 'oid 99999');
  });

  it('makes repeated column names unique so rows can be objects', () => {
    const fields = [field('?column?', 23), field('?column?', 23), field('id', 23)];
    const cols = columnsOf(fields);
    assert.deepEqual(
      cols.map((c) => c.name),
      ['?column?', '?column?_2', 'id'],
    );
    assert.deepEqual(rowObjects(cols, fields, [['1', '2', '3']]), [{ '?column?': 1, '?column?_2': 2, id: 3 }]);
  });
});

describe('DataRow decoding', () => {
  it('reads text cells, NULLs and empty strings', () => {
    assert.deepEqual(decodeDataRow(dataRow(['a', null, '', 'ünïcode'])), ['a', null, '', 'ünïcode']);
  });

  it('refuses a cell longer than its message', () => {
    const frame = dataRow(['abc']);
    frame.writeInt32BE(1000, 7);
    assert.throws(() => decodeDataRow(frame), /longer than its message/);
  });
});

describe('tool errors', () => {
  it('carry the ErrorResponse message first, then detail, hint and SQLSTATE', () => {
    const r = refusal({ M: 'pgwarden: bot may not read public.secrets', H: 'No policy for this identity grants select on public.secrets.', C: '42501' });
    assert.equal(r.isError, true);
    assert.equal(
      (r.content[0] as { text: string }).text,
      'pgwarden: bot may not read public.secrets\nHint: No policy for this identity grants select on public.secrets.\nSQLSTATE 42501',
    );
  });
});

describe('protected resource metadata', () => {
  it('lives at the well-known path inserted before the resource path (RFC 9728 §3.1) and names the issuers', () => {
    assert.equal(metadataUrl('https://gw.example.com:8443/mcp'), 'https://gw.example.com:8443/.well-known/oauth-protected-resource/mcp');
    assert.equal(metadataUrl('https://gw.example.com/pg/mcp/'), 'https://gw.example.com/.well-known/oauth-protected-resource/pg/mcp');
    assert.equal(metadataUrl('https://gw.example.com/'), 'https://gw.example.com/.well-known/oauth-protected-resource');
    assert.deepEqual(resourceMetadata({ resource: 'https://gw/mcp', audiences: ['https://gw/mcp'], issuers: ['https://idp'] }), {
      resource: 'https://gw/mcp',
      authorization_servers: ['https://idp'],
      bearer_methods_supported: ['header'],
      resource_name: 'pgwarden MCP endpoint',
    });
  });
});
