import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { detect, ibanValid, ipv6Valid, luhnValid } from './detect.ts';
import { DETECT_KINDS, type DetectKind } from './schema.ts';

const ALL = new Set<DetectKind>(DETECT_KINDS);

/** The kinds and matched texts found in `s`. */
function found(s: string, kinds: ReadonlySet<DetectKind> = ALL): string[] {
  return detect(s, kinds).found.map((d) => `${d.kind}:${s.slice(d.start, d.end)}`);
}

describe('detectors find', () => {
  const cases: [string, string[]][] = [
    ['write to jane.doe+x@mail.example.co.uk today', ['email:jane.doe+x@mail.example.co.uk']],
    ['visa 4111 1111 1111 1111 on file', ['credit_card:4111 1111 1111 1111']],
    ['amex 3782-822463-10005', ['credit_card:3782-822463-10005']],
    ['card 5555555555554444.', ['credit_card:5555555555554444']],
    ['IBAN GB82 WEST 1234 5698 7654 32 ok', ['iban:GB82 WEST 1234 5698 7654 32']],
    ['DE89370400440532013000', ['iban:DE89370400440532013000']],
    ['ssn 123-45-6789', ['national_id:123-45-6789']],
    ['from 192.168.1.20 at noon', ['ip:192.168.1.20']],
    ['v6 2001:db8::8a2e:370:7334 seen', ['ip:2001:db8::8a2e:370:7334']],
    ['mapped ::ffff:10.0.0.1', ['ip:::ffff:10.0.0.1']],
    ['call +1 (555) 123-4567 now', ['phone:+1 (555) 123-4567']],
    ['call 555-123-4567', ['phone:555-123-4567']],
    ['bare 5551234567', ['phone:5551234567']],
    ['mix a@b.io and 123-45-6789', ['email:a@b.io', 'national_id:123-45-6789']],
  ];
  for (const [s, want] of cases) it(JSON.stringify(s), () => assert.deepEqual(found(s), want));
});

describe('detectors do not find', () => {
  const only = (k: DetectKind) => new Set<DetectKind>([k]);
  const cases: [string, ReadonlySet<DetectKind>][] = [
    ['card 4111 1111 1111 1112', only('credit_card')], // Luhn fails
    ['IBAN GB82 WEST 1234 5698 7654 33', only('iban')], // mod-97 fails
    ['ssn 000-12-3456', only('national_id')], // area 000
    ['ssn 666-12-3456', only('national_id')],
    ['ssn 900-12-3456', only('national_id')],
    ['ssn 123-00-4567', only('national_id')],
    ['version 1.2.3.4.5', ALL],
    ['ip 256.1.1.1', ALL],
    ['at 12:30:45', ALL],
    ['std::vector<int>', ALL],
    ['on 2024-03-15', ALL],
    ['order 1234567', ALL], // a bare 7-digit id
    ['pi 3.14159265', ALL],
    ['short', ALL],
    ['no at sign in example.com', ALL],
    ['user@localhost', ALL],
  ];
  for (const [s, kinds] of cases) it(`${JSON.stringify(s)} (${[...kinds].join(', ')})`, () => assert.deepEqual(found(s, kinds), []));
});

describe('detector kinds', () => {
  it('only the configured kinds run', () => {
    assert.deepEqual(found('a@b.io 123-45-6789', new Set<DetectKind>(['national_id'])), ['national_id:123-45-6789']);
  });
  it('a card number is not also reported as a phone', () => {
    assert.deepEqual(found('4111111111111111'), ['credit_card:4111111111111111']);
  });
  it('reads a cell from bytes, decoding only when evidence is there', () => {
    const r = detect(Buffer.from('plain words only'), ALL);
    assert.deepEqual(r, { text: '', found: [] });
    assert.deepEqual(detect(Buffer.from('Zoë: zoe@x.io'), ALL).found.map((d) => d.kind), ['email']);
  });
});

describe('checksums', () => {
  const luhn: [string, boolean][] = [['4111111111111111', true], ['79927398713', true], ['79927398710', false], ['0', true]];
  for (const [d, ok] of luhn) it(`Luhn ${d} is ${ok}`, () => assert.equal(luhnValid(d), ok));
  const iban: [string, boolean][] = [['GB82WEST12345698765432', true], ['NO9386011117947', true], ['GB82WEST12345698765433', false], ['GB82', false]];
  for (const [d, ok] of iban) it(`IBAN ${d} is ${ok}`, () => assert.equal(ibanValid(d), ok));
  const v6: [string, boolean][] = [['::1', true], ['fe80::1', true], ['1:2:3:4:5:6:7:8', true], ['1:2:3', false], ['1::2::3', false], ['::', false], ['12345::1', false]];
  for (const [d, ok] of v6) it(`IPv6 ${d} is ${ok}`, () => assert.equal(ipv6Valid(d), ok));
});
