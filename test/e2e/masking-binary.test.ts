/**
 * `fake` in binary result format, judged by PostgreSQL itself.
 *
 * 1. The encoding: for every type with a binary fake, the server sends values in text and binary
 *    format; the binary masker's output MUST be exactly the bytes the server sends for the
 *    text-format fake cast to the type (its own send function), and the binary cell MUST read as
 *    the text the server prints (the fake is computed from that text in both formats).
 * 2. Through the gateway: the same masked columns read in text and binary format give equal
 *    values (the server compares them, reading the binary cell with its own receive function),
 *    types without a binary fake are NULL in both formats, and no clear value is in any byte the
 *    client received.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { encodeBind, encodeExecute, encodeParse, SYNC } from '../../src/protocol/index.ts';
import { buildMasker } from '../../src/masking/maskers.ts';
import { binaryCellText } from '../../src/masking/binary-fake.ts';
import { OID } from '../../src/masking/pg-types.ts';

const KEY = 'test-mask-key-0123456789abcdef';
const key = Buffer.from(KEY, 'utf8');
const fake = (oid: number, format: 0 | 1) => buildMasker({ kind: 'fake', options: {} }, oid, format, false, key, 'fake');

let t: TestGateway;
before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [{ name: 'analysts', match: { groups: ['analysts'] }, allow: [{ tables: ['public.fakes'], operations: ['select'] }] }];
      raw.masking = {
        hash_key: KEY,
        rules: ['i2', 'i4', 'i8', 'f4', 'f8', 'n', 'd', 'u', 't', 'vc', 'bc', 'b', 'ts', 'tz', 'tm'].map((c) => ({ column: `public.fakes.${c}`, with: 'fake' })),
      };
    },
  });
});
after(async () => {
  await t?.stop();
});

/**
 * A direct client that hands back the text the server sends. Binary forms are read as the bytea
 * of the type's send function (`int4send(v)` is the cell binary format carries), since
 * node-postgres decodes binary cells as UTF-8; a Buffer parameter is sent in binary format, read
 * by the type's receive function.
 */
async function direct(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: t.directUrl(), types: { getTypeParser: () => (v: unknown) => v } } as any);
  await c.connect();
  return c;
}

const randomDoubles = (n: number) => Array.from({ length: n }, () => randomBytes(8).readDoubleBE(0)).filter(Number.isFinite);
const randomFloats = (n: number) => Array.from({ length: n }, () => randomBytes(4).readFloatBE(0)).filter(Number.isFinite);
const randomDigits = (n: number) => Array.from(randomBytes(n), (b) => String(b % 10)).join('');

/** Values of each type, as literals the server reads (`expr` turns the text `v` into the value). */
const CASES: { name: string; oid: number; send: string; values: string[]; expr?: string }[] = [
  { name: 'int2', oid: OID.int2, send: 'int2send', values: ['0', '1', '-1', '7', '42', '-32768', '32767', '12345', '-999', '10000'] },
  { name: 'int4', oid: OID.int4, send: 'int4send', values: ['0', '5', '-2147483648', '2147483647', '123456789', '-42', '1000000000', '987651'] },
  { name: 'int8', oid: OID.int8, send: 'int8send', values: ['0', '9223372036854775807', '-9223372036854775808', '1234567890123', '-17', '1000000000000000000'] },
  {
    name: 'float4',
    oid: OID.float4,
    send: 'float4send',
    values: ['0', '-0', '1', '0.1', '3.14159', '1e-45', '1.2e-38', '3.4028235e38', '1e6', '123456', '1.5e-5', '0.0001', 'NaN', 'Infinity', '-Infinity', '16777216', '-2.5', '100', ...randomFloats(300).map((x) => x.toPrecision(17))],
  },
  {
    name: 'float8',
    oid: OID.float8,
    send: 'float8send',
    values: ['0', '-0', '0.1', '1e15', '1e14', '123456789012345678', '1.5e300', '5e-324', '1.7976931348623157e308', '0.0001', '0.00001', 'NaN', '-Infinity', '2.5', '-1234.5678', '1e100', ...randomDoubles(300).map((x) => x.toPrecision(17))],
  },
  {
    name: 'numeric',
    oid: OID.numeric,
    send: 'numeric_send',
    values: [
      '0', '0.00', '1', '-1234.50', '12345678.9012345', '0.0001', '0.000012', '10000', '99999999', '-0.5', 'NaN', 'Infinity', '-Infinity',
      '0.00000000000000000001', '123456789012345678901234567890.123456789', '5.000', '100000000.0001',
      ...Array.from({ length: 100 }, (_, i) => `${i % 3 === 0 ? '-' : ''}${randomDigits(1 + (i % 23))}.${randomDigits(i % 11)}`.replace(/\.$/, '')),
    ],
  },
  {
    name: 'date',
    oid: OID.date,
    send: 'date_send',
    values: ['0', '-5844', '-1', '365', '-730119', '-753601', '2921939', '2921940', 'infinity', '-infinity', '-25567', '8459', ...Array.from({ length: 100 }, () => String((randomBytes(4).readUInt32BE(0) % 4_000_000) - 2_400_000))],
    // v is a day count from 2000-01-01 (infinity passes through the text cast).
    expr: `case when v like '%infinity' then v::date else date '2000-01-01' + v::int end`,
  },
  {
    name: 'uuid',
    oid: OID.uuid,
    send: 'uuid_send',
    values: ['00000000-0000-0000-0000-000000000000', '7f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', 'ffffffff-ffff-ffff-ffff-ffffffffffff', ...Array.from({ length: 20 }, () => crypto.randomUUID())],
  },
];

/** The values of `expr` over `values`, in order: their text, or with `send` their binary form. */
async function select(c: pg.Client, type: string, expr: string, values: (string | null)[], send?: string): Promise<(string | Buffer | null)[]> {
  const value = `(${expr})::${type}`;
  const r = await c.query({ text: `select ${send ? `${send}(${value})` : value} from unnest($1::text[]) with ordinality u(v, i) order by i`, values: [values], rowMode: 'array' } as any);
  return r.rows.map(([v]: (string | null)[]) => (v === null ? null : send ? Buffer.from(v.slice(2), 'hex') : v));
}

describe('binary fake is what the type\'s send function writes for the text fake', () => {
  for (const { name, oid, send, values, expr } of CASES) {
    it(`${name}: ${values.length} values`, async () => {
      const c = await direct();
      try {
        const texts = (await select(c, name, expr ?? 'v', values)) as (string | null)[];
        const cells = (await select(c, name, expr ?? 'v', values, send)) as Buffer[];
        const textFakes: (string | null)[] = [];
        const binaryFakes: (Buffer | null)[] = [];
        for (let i = 0; i < values.length; i++) {
          assert.ok(Buffer.isBuffer(cells[i]), 'the server sent a binary cell');
          assert.equal(binaryCellText(oid, cells[i]), texts[i], `${name} ${values[i]}: the binary cell reads as the server's text`);
          const tf = fake(oid, 0).mask(Buffer.from(texts[i]!, 'latin1'));
          textFakes.push(tf === null ? null : tf.toString('latin1'));
          binaryFakes.push(fake(oid, 1).mask(cells[i]));
        }
        // The server's own binary form of each text fake (NULL, failing below, when the type
        // cannot read it: a text fake MUST be a value of the type).
        await c.query(`create function pg_temp.send_or_null(v text) returns bytea language plpgsql as $f$
          begin return ${send}(v::${name}); exception when numeric_value_out_of_range or datetime_field_overflow then return null; end $f$`);
        const sent = await c.query({ text: 'select pg_temp.send_or_null(v) from unnest($1::text[]) with ordinality u(v, i) order by i', values: [textFakes], rowMode: 'array' } as any);
        const expected = sent.rows.map(([v]: (string | null)[]) => (v === null ? null : Buffer.from(v.slice(2), 'hex')));
        let faked = 0;
        for (let i = 0; i < values.length; i++) {
          const what = `${name} ${texts[i]} → text fake ${textFakes[i]}`;
          if (textFakes[i] === null) {
            assert.equal(binaryFakes[i], null, `${what}: NULL in both formats`);
            continue;
          }
          assert.ok(expected[i] !== null, `${what}: the text fake is a value of the type`);
          assert.ok(binaryFakes[i] !== null, `${what}: the binary fake is not NULL`);
          assert.deepEqual(binaryFakes[i], expected[i], `${what}: binary fake ${binaryFakes[i]?.toString('hex')}, the server's ${(expected[i] as Buffer).toString('hex')}`);
          // (A fake can read as the clear value itself: 3e-324 is float8's 5e-324.)
          if (!binaryFakes[i]!.equals(cells[i])) faked++;
        }
        assert.ok(faked >= values.length / 2, `most ${name} values were faked (${faked} of ${values.length})`);
      } finally {
        await c.end();
      }
    });
  }
});

// ---- through the gateway ------------------------------------------------------------------------

const COLUMNS: [string, string][] = [
  ['i2', 'int2'], ['i4', 'int4'], ['i8', 'int8'], ['f4', 'float4'], ['f8', 'float8'], ['n', 'numeric(12,2)'], ['d', 'date'], ['u', 'uuid'],
  ['t', 'text'], ['vc', 'varchar(40)'], ['bc', 'char(12)'], ['b', 'bool'], ['ts', 'timestamp'], ['tz', 'timestamptz'], ['tm', 'time'],
];
const SEND: Record<string, string> = {
  int2: 'int2send', int4: 'int4send', int8: 'int8send', float4: 'float4send', float8: 'float8send', numeric: 'numeric_send', date: 'date_send', uuid: 'uuid_send',
  text: 'textsend', varchar: 'varcharsend', char: 'bpcharsend', bool: 'boolsend', timestamp: 'timestamp_send', timestamptz: 'timestamptz_send', time: 'time_send',
};
/** No fake in either format: NULL in both. */
const NULL_IN_BOTH = new Set(['b', 'ts', 'tz', 'tm']);
const ROWS = [
  [31337, 1987654321, '8765432109876543', 3.7215, 98765.4321987, '123456.78', '1984-07-21', '7f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', 'Jane Q. Public', 'jane@example.com', 'SECRET-0001', true, '2021-03-04 05:06:07', '2021-03-04 05:06:07+00', '13:14:15'],
  [-27182, -1414213562, '-7777777777777777', -0.0072973525, -6.02214076e23, '-99999.99', '1871-03-18', 'c0ffee00-1234-4abc-9def-0123456789ab', 'Zoë Ångström', 'zoe@example.org', 'SECRET-0002', false, '1999-12-31 23:59:59.999', '1999-12-31 23:59:59.999+00', '00:00:01'],
  [null, null, null, null, null, null, null, null, null, null, null, null, null, null, null],
];

/** Cells of a DataRow frame as Buffers (null for SQL NULL). */
function cellsOf(frame: Buffer): (Buffer | null)[] {
  const n = frame.readInt16BE(5);
  const out: (Buffer | null)[] = [];
  let p = 7;
  for (let i = 0; i < n; i++) {
    const len = frame.readInt32BE(p);
    p += 4;
    if (len < 0) out.push(null);
    else {
      out.push(frame.subarray(p, p + len));
      p += len;
    }
  }
  return out;
}

/** Every form a clear value could take on the wire: its text, and its binary cell with its length word. */
async function clearForms(c: pg.Client): Promise<{ what: string; bytes: Buffer }[]> {
  const list = COLUMNS.map(([col]) => col).join(', ');
  const forms: { what: string; bytes: Buffer }[] = [];
  const text = await c.query({ text: `select ${list} from fakes where id < 3`, rowMode: 'array' } as any);
  const sends = COLUMNS.map(([col, type]) => `${SEND[type.replace(/\(.*/, '')]}(${col})`).join(', ');
  const bin = await c.query({ text: `select ${sends} from fakes where id < 3`, rowMode: 'array' } as any);
  text.rows.forEach((row: string[], r: number) =>
    row.forEach((v, i) => {
      // Shorter forms (a bool's `t`, its one-byte cell) would be found by chance in any bytes.
      if (v.length >= 5) forms.push({ what: `${COLUMNS[i][0]} ${v} (text)`, bytes: Buffer.from(v, 'utf8') });
      const cell = Buffer.from((bin.rows[r][i] as string).slice(2), 'hex');
      const len = Buffer.alloc(4);
      len.writeInt32BE(cell.length);
      if (cell.length >= 2) forms.push({ what: `${COLUMNS[i][0]} ${v} (binary)`, bytes: Buffer.concat([len, cell]) });
    }),
  );
  return forms;
}

describe('a masked column read through the gateway in text and binary format', () => {
  before(() => {
    const defs = COLUMNS.map(([c, ty]) => `${c} ${ty}`).join(', ');
    const values = ROWS.map((r, i) => `(${i + 1}, ${r.map((v, j) => (v === null ? 'null' : `'${v}'::${COLUMNS[j][1]}`)).join(', ')})`).join(', ');
    t.pg.psql(`create table fakes (id int primary key, ${defs}); insert into fakes values ${values}; alter table fakes owner to gw_app;`, 'app');
  });

  it('gives equal values in both formats, NULL where the type has no fake, and no clear byte', async () => {
    const list = COLUMNS.map(([col]) => col).join(', ');
    const sql = `select id, ${list} from fakes order by id`;
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'analyst', groups: ['analysts'] }));
    const received: Buffer[] = [];
    const read = async (format: 0 | 1) => {
      c.send(Buffer.concat([encodeParse('', sql), encodeBind('', '', [], [format]), encodeExecute(''), SYNC]));
      const got = await c.until('Z');
      received.push(...got.map((m) => m.frame));
      const err = got.find((m) => m.tag === 'E');
      assert.equal(err, undefined, JSON.stringify(err?.fields));
      return got.filter((m) => m.tag === 'D').map((m) => cellsOf(m.frame));
    };
    const textRows = await read(0);
    const binaryRows = await read(1);
    // A prepared statement executed again, as a driver does across its switch to binary results.
    const again = await read(1);
    c.end();
    assert.equal(textRows.length, ROWS.length);
    assert.deepEqual(again, binaryRows, 'the same fake on every execution');

    const d = await direct();
    try {
      for (let r = 0; r < ROWS.length; r++) {
        for (let i = 0; i < COLUMNS.length; i++) {
          const [col, type] = COLUMNS[i];
          const tv = textRows[r][i + 1];
          const bv = binaryRows[r][i + 1];
          const what = `row ${r + 1} ${col} (${type})`;
          if (ROWS[r][i] === null || NULL_IN_BOTH.has(col)) {
            assert.equal(tv, null, `${what}: NULL in text format`);
            assert.equal(bv, null, `${what}: NULL in binary format`);
            continue;
          }
          assert.ok(tv !== null && bv !== null, `${what}: a value in both formats`);
          // The server reads the binary cell with its receive function and compares it with the text.
          const q = await d.query({ text: `select $1::${type} = $2::${type} as same, $1::${type}::text as bin, $3::${type} = $2::${type} as clear`, values: [bv, tv.toString('utf8'), String(ROWS[r][i])], rowMode: 'array' } as any);
          const [same, bin, clear] = q.rows[0];
          assert.equal(same, 't', `${what}: text ${tv.toString('utf8')}, binary ${bin}`);
          assert.equal(clear, 'f', `${what}: the fake ${tv.toString('utf8')} differs from the clear value`);
        }
      }
      const all = Buffer.concat(received);
      for (const f of await clearForms(d)) assert.ok(!all.includes(f.bytes), `the gateway sent ${f.what} in clear`);
    } finally {
      await d.end();
    }
  });
});
