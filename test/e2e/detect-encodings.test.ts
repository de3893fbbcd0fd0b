/**
 * Content detection on every output encoding, end to end against a real PostgreSQL. A status
 * column no rule names holds an e-mail address, a card number, an IP address and an IBAN; with
 * `masking.detect` on, none of them may reach the client in any form a client can decode: text,
 * bytea (hex or escape), base64 or hex from encode(), JSON and jsonb, arrays, binary result
 * format, COPY. Judged by effect: every byte received is searched for the clear values and for
 * their hex and base64 forms.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient, message } from '../helpers/raw-client.ts';
import type { FieldMap } from '../../src/protocol/index.ts';

let t: TestGateway;

const EMAIL = 'jane.doe@example.com';
const CARD = '4111 1111 1111 1111';
const IP = '192.168.10.20';
const IBAN = 'GB82 WEST 1234 5698 7654 32';
const STATUSES = [
  `shipped; contact ${EMAIL}`,
  `paid with card ${CARD}`,
  `ordered from ${IP}`,
  `refund to ${IBAN}`,
  `all of them: ${EMAIL}, ${CARD}, ${IP}, ${IBAN}`,
];
const SECRETS = [EMAIL, CARD, IP, IBAN];

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [{ name: 'readers', match: { groups: ['analysts'] }, allow: [{ tables: ['public.orders'], operations: ['select'] }] }];
      raw.masking = { detect: { kinds: ['email', 'credit_card', 'ip', 'iban'] } };
    },
  });
  const values = STATUSES.map((s, i) => `(${i + 1}, '${s}')`).join(', ');
  t.pg.psql(`create table orders (id int primary key, status text); insert into orders values ${values}; alter table orders owner to gw_app;`, 'app');
});
after(async () => {
  await t?.stop();
});

const analyst = () => t.issuer.sign({ sub: 'analyst', groups: ['analysts'] });

/**
 * The forms in which a secret could be read back from bytes: clear, hex, and the base64 of each
 * status around the secret (base64 depends on the alignment, so the status's own encoding is used).
 */
function forms(): string[] {
  const out: string[] = [];
  for (const s of SECRETS) out.push(s, Buffer.from(s).toString('hex'), encodeURIComponent(s), s.replace('@', '%40'));
  /** The base64 characters that encode `secret` inside the base64 of `whole`. */
  const b64Around = (whole: string, secret: string) => {
    const at = Buffer.from(whole).indexOf(secret);
    if (at < 0) return undefined;
    return Buffer.from(whole).toString('base64').slice(Math.ceil(at / 3) * 4, Math.floor((at + Buffer.byteLength(secret)) / 3) * 4);
  };
  for (const st of STATUSES) {
    for (const s of SECRETS) {
      const direct = b64Around(st, s);
      if (direct) out.push(direct);
      // base64 of the hex form
      const nested = b64Around(Buffer.from(st).toString('hex'), Buffer.from(s).toString('hex'));
      if (nested) out.push(nested);
    }
  }
  return out;
}

function assertNoSecret(bytes: Buffer, what: string): void {
  const text = bytes.toString('latin1').replace(/\n/g, '');
  const lower = text.toLowerCase();
  for (const f of forms()) assert.ok(!text.includes(f) && !lower.includes(f.toLowerCase()), `${what}: ${f} reached the client`);
}

async function raw(sql: string): Promise<{ bytes: Buffer; errors: FieldMap[]; rows: number }> {
  const c = await RawClient.connect(t.port, await analyst());
  try {
    c.send(message('Q', Buffer.from(`${sql}\0`)));
    const got = await c.until('Z', 10_000);
    return { bytes: Buffer.concat(got.map((m) => m.frame)), errors: got.filter((m) => m.tag === 'E').map((m) => m.fields!), rows: got.filter((m) => m.tag === 'D').length };
  } finally {
    c.end();
  }
}

describe('content detection reads every output encoding', () => {
  it('the direct result holds the values (the test data is what it claims)', () => {
    const direct = t.pg.psql("select string_agg(encode(convert_to(status, 'UTF8'), 'base64'), '') from orders", 'app');
    assert.ok(forms().some((f) => direct.replace(/\n/g, '').includes(f)));
  });

  const shapes = [
    'select status from orders',
    'select upper(status) from orders',
    'select status::bytea from orders',
    'select status::bytea::text from orders',
    "select convert_to(status, 'UTF8') from orders",
    "select encode(convert_to(status, 'UTF8'), 'base64') from orders",
    "select encode(convert_to(status, 'UTF8'), 'hex') from orders",
    "select encode(convert_to(status, 'UTF8'), 'escape') from orders",
    "select 'x' || encode(convert_to(status, 'UTF8'), 'base64') from orders",
    "select encode(convert_to(encode(convert_to(status, 'UTF8'), 'hex'), 'UTF8'), 'base64') from orders",
    'select to_json(status) from orders',
    'select to_jsonb(status) from orders',
    "select json_build_object('s', status, 'n', 1) from orders",
    "select jsonb_build_object('s', status) from orders",
    'select array[status] from orders',
    "select array[status::bytea] from orders",
    "select array_agg(status) from orders",
    'select row(id, status) from orders',
    "select xmlelement(name s, status) from orders",
    "select replace(status, '@', '%40') from orders",
  ];
  for (const sql of shapes) {
    it(sql, async () => {
      const r = await raw(sql);
      assert.deepEqual(r.errors, [], sql);
      assert.ok(r.rows > 0, 'rows came');
      assertNoSecret(r.bytes, sql);
    });
  }

  it('bytea_output = escape', async () => {
    const c = await RawClient.connect(t.port, await analyst(), 'app');
    try {
      c.send(message('Q', Buffer.from("set bytea_output = 'escape'; select status::bytea from orders\0")));
      const got = await c.until('Z', 10_000);
      const errors = got.filter((m) => m.tag === 'E');
      if (errors.length === 0) {
        assert.ok(got.some((m) => m.tag === 'D'));
        assertNoSecret(Buffer.concat(got.map((m) => m.frame)), 'escape format');
      } else assert.equal(errors[0].fields?.C, '42501', 'refused by the policy, or masked');
    } finally {
      c.end();
    }
  });

  it('binary result format (pg, binary: true): text, bytea, json, jsonb and arrays', async () => {
    const c = new pg.Client(t.client(await analyst()));
    await c.connect();
    try {
      const r = await c.query({
        text: "select status, status::bytea as b, to_json(status) as j, to_jsonb(status) as jb, array[status] as a, encode(convert_to(status, 'UTF8'), 'base64') as b64 from orders where id > $1",
        values: [0],
        binary: true,
      } as any);
      assert.equal(r.rows.length, STATUSES.length);
      const all = Buffer.concat(r.rows.flatMap((row: any) => Object.values(row).map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))))));
      assertNoSecret(all, 'pg binary');
      // The masked jsonb still decodes: the version byte is kept.
      for (const row of r.rows as any[]) if (Buffer.isBuffer(row.jb)) assert.equal(row.jb[0], 1);
    } finally {
      await c.end();
    }
  });

  it('text result format over the extended protocol (pg)', async () => {
    const c = new pg.Client(t.client(await analyst()));
    await c.connect();
    try {
      const r = await c.query("select status::bytea as b, to_jsonb(status) as jb, encode(convert_to(status, 'UTF8'), 'hex') as h from orders where id > $1", [0]);
      assertNoSecret(Buffer.from(JSON.stringify(r.rows.map((x) => [Buffer.isBuffer(x.b) ? x.b.toString('latin1') : x.b, x.jb, x.h]))), 'pg text');
      for (const row of r.rows) assert.equal(typeof row.jb, 'string', 'jsonb of a string stays a JSON string');
    } finally {
      await c.end();
    }
  });

  it('COPY TO STDOUT (text and csv) of encoded values', async () => {
    for (const sql of [
      "COPY (select status::bytea from orders) TO STDOUT",
      "COPY (select encode(convert_to(status, 'UTF8'), 'base64') from orders) TO STDOUT (FORMAT csv)",
      'COPY (select to_json(status) from orders) TO STDOUT',
    ]) {
      const r = await raw(sql);
      assert.deepEqual(r.errors, [], sql);
      assertNoSecret(r.bytes, sql);
    }
  });

  it('server errors that echo an encoded value', async () => {
    for (const sql of [
      'select status::bytea::text::int from orders',
      "select encode(convert_to(status, 'UTF8'), 'base64')::int from orders",
      "select to_jsonb(status)::text::int from orders",
    ]) {
      const r = await raw(sql);
      assert.equal(r.errors[0]?.C, '22P02', sql);
      assertNoSecret(r.bytes, sql);
    }
  });

  it('binary COPY is refused while content detection applies', async () => {
    const r = await raw('COPY (select status from orders) TO STDOUT (FORMAT binary)');
    assert.equal(r.errors[0]?.C, '42501');
    assert.match(r.errors[0].M, /binary format while content detection applies/);
    assertNoSecret(r.bytes, 'binary copy');
  });
});
