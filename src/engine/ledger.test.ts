/**
 * The ledger of prepared statements and portals: a change counts once the server did it; what a
 * change in flight touches waits; what a failed cycle touched is uncertain until closed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ledger, type LedgerOp, type Lookup, type Namespace } from './ledger.ts';

type Step =
  | { batch: LedgerOp<string>[]; failed?: boolean } // recorded, sent as one cycle, completed
  | { sent: LedgerOp<string>[] } // recorded and sent, not completed yet
  | { building: LedgerOp<string>[] }; // recorded in the batch being built

const set = (name: string, value: string, ns: Namespace = 'S'): LedgerOp<string> => ({ ns, k: 'set', name, value });
const drop = (name: string, ns: Namespace = 'S'): LedgerOp<string> => ({ ns, k: 'drop', name });
const dropAll = (ns: Namespace = 'S'): LedgerOp<string> => ({ ns, k: 'drop_all' });

function play(steps: Step[]): Ledger<string> {
  const l = new Ledger<string>();
  for (const s of steps) {
    if ('batch' in s) {
      const effects = s.batch.map((op) => l.record(op));
      l.batchEnd(effects, true);
      l.cycleDone(effects, s.failed ?? false);
    } else if ('sent' in s) {
      const effects = s.sent.map((op) => l.record(op));
      l.batchEnd(effects, true);
    } else for (const op of s.building) l.record(op);
  }
  return l;
}

const cases: { name: string; steps: Step[]; ns?: Namespace; lookup: string; want: Lookup<string> }[] = [
  { name: 'a completed Parse is known', steps: [{ batch: [set('s1', 'safe')] }], lookup: 's1', want: { state: 'known', value: 'safe' } },
  { name: 'a name never made is absent', steps: [], lookup: 's1', want: { state: 'absent' } },
  { name: 'DEALLOCATE then PREPARE in one cycle: the new statement', steps: [{ batch: [set('s1', 'safe')] }, { batch: [drop('s1'), set('s1', 'ssn')] }], lookup: 's1', want: { state: 'known', value: 'ssn' } },
  { name: 'DEALLOCATE ALL drops every statement', steps: [{ batch: [set('a', '1'), set('b', '2')] }, { batch: [dropAll()] }], lookup: 'b', want: { state: 'absent' } },
  { name: 'DEALLOCATE ALL leaves portals', steps: [{ batch: [set('p', 'x', 'P')] }, { batch: [dropAll('S')] }], ns: 'P', lookup: 'p', want: { state: 'known', value: 'x' } },
  { name: 'a change in a failed cycle makes the name uncertain', steps: [{ batch: [set('s1', 'safe')] }, { batch: [drop('s1'), set('s1', 'ssn')], failed: true }], lookup: 's1', want: { state: 'uncertain' } },
  { name: 'a failed DEALLOCATE ALL leaves each name its statement or nothing', steps: [{ batch: [set('s1', 'safe')] }, { batch: [dropAll()], failed: true }], lookup: 's1', want: { state: 'maybe', value: 'safe' } },
  { name: 'a Parse in a failed cycle: its statement or nothing', steps: [{ batch: [set('s1', 'x')], failed: true }], lookup: 's1', want: { state: 'maybe', value: 'x' } },
  { name: 'a second failed Parse of another statement: uncertain', steps: [{ batch: [set('s1', 'a')], failed: true }, { batch: [set('s1', 'b')], failed: true }], lookup: 's1', want: { state: 'uncertain' } },
  { name: 'a failed cycle of DEALLOCATE ALL then PREPARE: uncertain', steps: [{ batch: [set('s1', 'a')] }, { batch: [dropAll(), set('s1', 'b')], failed: true }], lookup: 's1', want: { state: 'uncertain' } },
  { name: 'a failed DEALLOCATE ALL cannot create names', steps: [{ batch: [set('s1', 'safe')] }, { batch: [dropAll()], failed: true }], lookup: 'other', want: { state: 'absent' } },
  { name: 'a failed cycle leaves untouched names known', steps: [{ batch: [set('s1', 'safe')] }, { batch: [set('s2', 'x')], failed: true }], lookup: 's1', want: { state: 'known', value: 'safe' } },
  { name: 'an uncertain name closed successfully is absent', steps: [{ batch: [set('s1', 'a')] }, { batch: [drop('s1'), set('s1', 'b')], failed: true }, { batch: [drop('s1')] }], lookup: 's1', want: { state: 'absent' } },
  { name: 'an uncertain name prepared again successfully is known', steps: [{ batch: [set('s1', 'a')] }, { batch: [drop('s1'), set('s1', 'b')], failed: true }, { batch: [set('s1', 'c')] }], lookup: 's1', want: { state: 'known', value: 'c' } },
  { name: 'a change in flight makes the name pending', steps: [{ batch: [set('s1', 'safe')] }, { sent: [drop('s1'), set('s1', 'ssn')] }], lookup: 's1', want: { state: 'pending' } },
  { name: 'a DEALLOCATE ALL in flight makes every name pending', steps: [{ sent: [dropAll()] }], lookup: 'any', want: { state: 'pending' } },
  { name: 'a change in flight of another name does not hold this one', steps: [{ batch: [set('s1', 'safe')] }, { sent: [set('s2', 'x')] }], lookup: 's1', want: { state: 'known', value: 'safe' } },
  { name: 'the batch being built is seen by its later messages', steps: [{ batch: [set('s1', 'safe')] }, { building: [drop('s1'), set('s1', 'new')] }], lookup: 's1', want: { state: 'known', value: 'new' } },
  { name: 'a Close in the batch being built hides the name', steps: [{ batch: [set('s1', 'safe')] }, { building: [drop('s1')] }], lookup: 's1', want: { state: 'absent' } },
  { name: 'a change in the batch being built decides, even over a change in flight', steps: [{ sent: [drop('')] }, { building: [set('', 'new')] }], lookup: '', want: { state: 'known', value: 'new' } },
  { name: 'after a DO block every known name is uncertain', steps: [{ batch: [set('s1', 'safe')] }, { batch: [{ ns: 'S', k: 'touch_all' }] }], lookup: 's1', want: { state: 'uncertain' } },
  { name: 'after a failed DO block too', steps: [{ batch: [set('s1', 'safe')] }, { batch: [{ ns: 'S', k: 'touch_all' }], failed: true }], lookup: 's1', want: { state: 'uncertain' } },
  { name: 'later in the batch of a DO block, any name is uncertain', steps: [{ building: [{ ns: 'P', k: 'touch_all' }] }], ns: 'P', lookup: 'c', want: { state: 'uncertain' } },
];

describe('Ledger', () => {
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(play(c.steps).lookup(c.ns ?? 'S', c.lookup), c.want));
  }

  it('changes of earlier statements of the same message are seen (local)', () => {
    const l = play([{ batch: [set('s1', 'safe')] }]);
    assert.deepEqual(l.lookup('S', 's1', [drop('s1'), set('s1', 'ssn')]), { state: 'known', value: 'ssn' });
    assert.deepEqual(l.lookup('S', 's1'), { state: 'known', value: 'safe' }, 'local changes are not recorded');
  });

  it('a batch answered by the gateway (nothing forwarded) changes nothing', () => {
    const l = play([{ batch: [set('s1', 'safe')] }]);
    const op = l.record(drop('s1'));
    l.batchEnd([], false);
    assert.deepEqual(l.lookup('S', 's1'), { state: 'known', value: 'safe' });
    l.cycleDone([op], false); // never happens for a local cycle; shown for the contrast
    assert.deepEqual(l.lookup('S', 's1'), { state: 'absent' });
  });

  it('settled() resolves when the cycle in flight completes; the name is then known', async () => {
    const l = new Ledger<string>();
    const effects = [l.record(set('s1', 'x'))];
    l.batchEnd(effects, true);
    assert.deepEqual(l.lookup('S', 's1'), { state: 'pending' });
    const settled = l.settled();
    l.cycleDone(effects, false);
    await settled;
    assert.deepEqual(l.lookup('S', 's1'), { state: 'known', value: 'x' });
  });

  it('effects carrying ops (a gate effect) are read like ops', () => {
    const l = new Ledger<string>();
    const effect = { reload: true, ops: [l.record(set('s1', 'x'))] };
    l.batchEnd([effect], true);
    assert.deepEqual(l.lookup('S', 's1'), { state: 'pending' });
    l.cycleDone([effect], false);
    assert.deepEqual(l.lookup('S', 's1'), { state: 'known', value: 'x' });
  });
});
