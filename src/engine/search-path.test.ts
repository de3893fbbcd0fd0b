/**
 * The session's search_path through transactions, as PostgreSQL keeps it: each case is a run of
 * cycles (what the statements change, how the server said the cycle ended) and the value(s) the
 * next statement may run with. The expected values were checked against PostgreSQL 15.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { afterCycle, currentValues, initialState, mayChange, valueKey, type CycleOutcome, type PathOp, type PathState, type PathValue } from './search-path.ts';

const set = (v: string, local = false): PathOp => ({ k: 'set', value: v === 'default' ? 'default' : [v], local });
const begin: PathOp = { k: 'begin' };
const commit: PathOp = { k: 'commit', chain: false };
const rollback: PathOp = { k: 'rollback', chain: false };
const sp = (name: string): PathOp => ({ k: 'savepoint', name });
const release = (name: string): PathOp => ({ k: 'release', name });
const rollbackTo = (name: string): PathOp => ({ k: 'rollback_to', name });
const observe = (v: string): PathOp => ({ k: 'observe', value: [v] });
const ok = (status: CycleOutcome['status'] = 'I'): CycleOutcome => ({ error: 'none', status });
const err = (status: CycleOutcome['status'] = 'I'): CycleOutcome => ({ error: 'upstream', status });

type Cycle = [PathOp[], CycleOutcome];

function play(cycles: Cycle[]): PathState[] {
  let c: PathState[] = [initialState()];
  for (const [ops, outcome] of cycles) c = afterCycle(c, ops, outcome);
  return c;
}

const shown = (vs: PathValue[]): string[] => vs.map(valueKey).sort();

const cases: { name: string; cycles: Cycle[]; want: string[] }[] = [
  { name: 'SET outside a transaction holds', cycles: [[[set('a')], ok()]], want: ['["a"]'] },
  { name: 'SET LOCAL outside a transaction block ends with its statement', cycles: [[[set('a', true)], ok()]], want: ['default'] },
  { name: 'SET in a rolled-back transaction reverts', cycles: [[[begin], ok('T')], [[set('a')], ok('T')], [[rollback], ok()]], want: ['default'] },
  { name: 'SET in a committed transaction holds', cycles: [[[begin], ok('T')], [[set('a')], ok('T')], [[commit], ok()]], want: ['["a"]'] },
  { name: 'SET LOCAL in a transaction holds until it ends', cycles: [[[begin, set('a', true)], ok('T')]], want: ['["a"]'] },
  { name: 'SET LOCAL ends at COMMIT, back to the last SET', cycles: [[[begin, set('a'), set('b', true)], ok('T')], [[commit], ok()]], want: ['["a"]'] },
  { name: 'SET after SET LOCAL in one transaction is kept by COMMIT', cycles: [[[begin, set('b', true), set('a')], ok('T')], [[commit], ok()]], want: ['["a"]'] },
  { name: 'ROLLBACK TO SAVEPOINT reverts what came after it', cycles: [[[begin, set('a'), sp('s'), set('b')], ok('T')], [[rollbackTo('s')], ok('T')]], want: ['["a"]'] },
  { name: 'RELEASE keeps what came after the savepoint', cycles: [[[begin, set('a'), sp('s'), set('b')], ok('T')], [[release('s'), commit], ok()]], want: ['["b"]'] },
  { name: 'SET LOCAL after a released savepoint lasts to the end of the transaction only', cycles: [[[begin, set('a'), sp('s'), set('b', true), release('s')], ok('T')], [[commit], ok()]], want: ['["a"]'] },
  { name: 'ROLLBACK TO the outer of two same-named savepoints goes to the inner one', cycles: [[[begin, sp('s'), set('a'), sp('s'), set('b'), rollbackTo('s')], ok('T')]], want: ['["a"]'] },
  { name: 'an error in a transaction block reverts at once', cycles: [[[begin, set('a')], ok('T')], [[], err('E')]], want: ['default'] },
  { name: 'an error after a savepoint reverts to the savepoint', cycles: [[[begin, set('a'), sp('s'), set('b')], ok('T')], [[], err('E')], [[rollbackTo('s')], ok('T')]], want: ['["a"]'] },
  { name: 'COMMIT of a failed block rolls back', cycles: [[[begin, set('a')], ok('T')], [[], err('E')], [[commit], ok()]], want: ['default'] },
  { name: 'a multi-statement query that fails reverts its SET', cycles: [[[set('a')], err()]], want: ['default'] },
  { name: 'a pipeline whose later statement fails reverts its SET', cycles: [[[set('a'), set('b', true)], err()]], want: ['default'] },
  { name: 'COMMIT inside a failed query string: the SET before it may or may not have committed', cycles: [[[set('a'), commit, set('b')], err()]], want: ['["a"]', 'default'] },
  { name: 'the status tells which statement failed: BEGIN ran, so the block failed after it', cycles: [[[begin, set('a')], err('E')], [[rollback], ok()]], want: ['default'] },
  { name: 'the refusal marker fails after every forwarded change', cycles: [[[begin, set('a')], { error: 'marker', status: 'E' }], [[rollbackTo('x')], err('E')], [[rollback], ok()]], want: ['default'] },
  { name: 'COMMIT AND CHAIN keeps the value and opens a new block', cycles: [[[begin, set('a'), { k: 'commit', chain: true }, set('b')], ok('T')], [[rollback], ok()]], want: ['["a"]'] },
  { name: 'RESET returns to the session default', cycles: [[[set('a')], ok()], [[set('default')], ok()]], want: ['default'] },
  { name: 'DISCARD ALL returns to the session default', cycles: [[[set('a')], ok()], [[{ k: 'discard_all' }], ok()]], want: ['default'] },
  { name: 'a SET before BEGIN in the same query string is part of the transaction', cycles: [[[set('a'), begin], ok('T')], [[rollback], ok()]], want: ['default'] },
  { name: 'DISCARD ALL inside a block fails and changes nothing', cycles: [[[set('a')], ok()], [[begin], ok('T')], [[{ k: 'discard_all' }], err('E')], [[rollback], ok()]], want: ['["a"]'] },
  { name: 'set_config in a query may or may not have run', cycles: [[[{ k: 'maybe', value: ['a'], local: false }], ok()]], want: ['["a"]', 'default'] },
  { name: 'a DO block makes the value unknown', cycles: [[[{ k: 'unknown' }], ok()]], want: ['unknown'] },
  { name: 'a DO block in a rolled-back transaction still leaves it unknown (it may have committed)', cycles: [[[begin, { k: 'unknown' }], ok('T')], [[rollback], ok()]], want: ['unknown'] },
  { name: 'SET after unknown makes it known again', cycles: [[[{ k: 'unknown' }], ok()], [[set('a')], ok()]], want: ['["a"]'] },
  { name: 'FROM CURRENT makes a SET LOCAL value the session one', cycles: [[[begin, set('a', true), { k: 'current', local: false }], ok('T')], [[commit], ok()]], want: ['["a"]'] },
  { name: 'an outcome the model cannot explain is unknown', cycles: [[[begin], ok('I')]], want: ['unknown'] },
  { name: 'a value read back after unknown code is the session value', cycles: [[[{ k: 'unknown' }], ok()], [[observe('a')], ok()], [[begin], ok('T')], [[rollback], ok()]], want: ['["a"]'] },
  { name: 'a read-back that failed changes nothing', cycles: [[[{ k: 'unknown' }], ok()], [[{ k: 'observe' }], err()]], want: ['unknown'] },
  { name: 'a value read back in a block holds until the block ends', cycles: [[[begin, { k: 'unknown' }], ok('T')], [[observe('a')], ok('T')]], want: ['["a"]'] },
  { name: 'after COMMIT of a block with unknown code it is unknown again (the code may have used SET LOCAL)', cycles: [[[begin, { k: 'unknown' }], ok('T')], [[observe('a')], ok('T')], [[commit], ok()]], want: ['unknown'] },
  { name: 'ROLLBACK of a block with unknown code: unknown again (the code may have committed), to be read back', cycles: [[[set('a')], ok()], [[begin], ok('T')], [[{ k: 'unknown' }], ok('T')], [[observe('b')], ok('T')], [[rollback], ok()]], want: ['unknown'] },
];

describe('search_path through transactions', () => {
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(shown(currentValues(play(c.cycles), [])), c.want);
    });
  }

  it('later statements of a batch see the changes before them', () => {
    assert.deepEqual(shown(currentValues(play([]), [set('a'), begin, set('b', true)])), ['["b"]']);
  });

  it('a change in flight matters when it sets the value, or when a transaction end would revert one', () => {
    assert.equal(mayChange([initialState()], [set('a')]), true);
    assert.equal(mayChange([initialState()], [begin]), false);
    assert.equal(mayChange([initialState()], []), false);
    const open = play([[[begin, set('a')], ok('T')]]);
    assert.equal(mayChange(open, [rollback]), true);
  });
});
