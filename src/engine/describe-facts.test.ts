/**
 * A portal's rows are planned from a description the result tracker holds on that portal's own
 * record, or the session first describes the portal (fail closed): a Describe the server skipped
 * after an error is not one on its way, a statement's description holds for one cycle, and a
 * description never passes from one record to another that re-uses its name.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BE, encodeErrorResponse, encodeReadyForQuery, StreamScanner, type FieldDescription } from '../protocol/index.ts';
import { ResultTracker, type MaskingPort } from './results.ts';
import { newPortalFacts, newStatementFacts, type PortalFacts, type StatementFacts } from './wire-facts.ts';

function rowDescription(names: string[]): Buffer {
  const parts = names.map((n) => {
    const tail = Buffer.alloc(18);
    tail.writeUInt32BE(16384, 0); // table OID
    tail.writeInt16BE(1, 4); // attnum
    tail.writeUInt32BE(25, 6); // text
    tail.writeInt16BE(-1, 10);
    tail.writeInt32BE(-1, 12);
    tail.writeInt16BE(0, 16);
    return Buffer.concat([Buffer.from(`${n}\0`), tail]);
  });
  const body = Buffer.concat([Buffer.from([0, names.length]), ...parts]);
  const head = Buffer.alloc(5);
  head[0] = BE.RowDescription;
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

const control = (tag: number): Buffer => Buffer.from([tag, 0, 0, 0, 4]);
const ERROR = encodeErrorResponse({ severity: 'ERROR', code: '22012', message: 'division by zero' });
const READY = encodeReadyForQuery('I');

/** A tracker whose masking records the fields each plan was built from. */
function tracker(): { t: ResultTracker; planned: string[][] } {
  const planned: string[][] = [];
  const masking: MaskingPort = {
    plan: (fields: FieldDescription[]) => {
      planned.push(fields.map((f) => f.name));
      return null;
    },
    copyPlan: () => null,
    scrub: () => null,
  };
  return { t: new ResultTracker(new StreamScanner(1 << 20), masking), planned };
}

interface World {
  t: ResultTracker;
  st: StatementFacts;
  portal: PortalFacts;
}

const cases: { name: string; run: (w: World) => void; needsDescribe: boolean }[] = [
  {
    name: 'a Describe of the statement on its way, answered later in the cycle: the portal waits for it',
    run: ({ t, st, portal }) => {
      t.describe('S', st);
      t.bind(portal, []);
    },
    needsDescribe: false,
  },
  {
    name: 'a Describe of the statement skipped after an error: the portal is described itself',
    run: ({ t, st, portal }) => {
      t.parse();
      t.describe('S', st);
      t.sync();
      t.message(BE.ErrorResponse, ERROR);
      t.message(BE.ReadyForQuery, READY);
      t.bind(portal, []);
    },
    needsDescribe: true,
  },
  {
    name: 'a portal waiting for its statement\'s Describe when an error skips it is described itself',
    run: ({ t, st, portal }) => {
      t.parse();
      t.describe('S', st);
      t.bind(portal, []);
      t.sync();
      t.message(BE.ErrorResponse, ERROR);
      t.message(BE.ReadyForQuery, READY);
    },
    needsDescribe: true,
  },
  {
    name: 'a Describe of the portal skipped after an error: it is described again',
    run: ({ t, portal }) => {
      t.parse();
      t.describe('P', portal);
      t.sync();
      t.message(BE.ErrorResponse, ERROR);
      t.message(BE.ReadyForQuery, READY);
    },
    needsDescribe: true,
  },
  {
    name: 'a statement described in an earlier cycle: its portal is described (a description holds for one cycle)',
    run: ({ t, st, portal }) => {
      t.describe('S', st);
      t.sync();
      t.message(BE.RowDescription, rowDescription(['ssn']));
      t.message(BE.ReadyForQuery, READY);
      t.bind(portal, []);
    },
    needsDescribe: true,
  },
  {
    name: 'a statement described in this cycle: its portal has its fields',
    run: ({ t, st, portal }) => {
      t.describe('S', st);
      t.message(BE.RowDescription, rowDescription(['ssn']));
      t.bind(portal, []);
    },
    needsDescribe: false,
  },
  {
    name: 'the description of another record under the same name does not reach the portal',
    run: ({ t, portal }) => {
      const before = newStatementFacts();
      t.describe('S', before);
      t.message(BE.RowDescription, rowDescription(['name']));
      t.bind(portal, []);
    },
    needsDescribe: true,
  },
  {
    name: 'a portal described in an earlier cycle keeps its description',
    run: ({ t, portal }) => {
      t.describe('P', portal);
      t.sync();
      t.message(BE.RowDescription, rowDescription(['ssn']));
      t.message(BE.ReadyForQuery, READY);
    },
    needsDescribe: false,
  },
];

describe('where a portal\'s description comes from', () => {
  for (const c of cases) {
    it(c.name, () => {
      const { t } = tracker();
      const st = newStatementFacts();
      const portal = newPortalFacts(st);
      c.run({ t, st, portal });
      assert.equal(t.needsDescribe(portal), c.needsDescribe);
    });
  }

  it('rows are planned from the description the statement\'s Describe gave, answered after the Execute was queued', () => {
    const { t, planned } = tracker();
    const st = newStatementFacts();
    const portal = newPortalFacts(st);
    t.describe('S', st);
    t.bind(portal, [1]);
    assert.equal(t.needsDescribe(portal), false);
    t.execute(portal, undefined);
    t.message(BE.RowDescription, rowDescription(['email', 'ssn']));
    t.message(BE.BindComplete, control(BE.BindComplete));
    assert.deepEqual(planned, [['email', 'ssn']]);
    assert.deepEqual(
      portal.fields?.map((f) => f.format),
      [1, 1],
    );
  });

  it('an Execute queued before a later Bind of the same name is planned from its own portal', () => {
    const { t, planned } = tracker();
    const first = newPortalFacts(null);
    t.describe('P', first);
    t.execute(first, undefined);
    const second = newPortalFacts(null);
    t.bind(second, []);
    t.describe('P', second);
    t.message(BE.RowDescription, rowDescription(['id']));
    assert.deepEqual(planned, [['id']]);
    assert.equal(t.needsDescribe(second), false);
    assert.equal(second.fields, undefined);
  });
});
