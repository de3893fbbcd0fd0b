import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BufferBudget } from './buffer-budget.ts';

describe('BufferBudget', () => {
  const cases: { name: string; steps: [string, number][]; want: (null | 'identity' | 'total')[]; held: number }[] = [
    { name: 'within both caps', steps: [['a', 50], ['b', 40]], want: [null, null], held: 90 },
    { name: 'one identity over its cap', steps: [['a', 60], ['a', 50]], want: [null, 'identity'], held: 110 },
    { name: 'all identities over the total', steps: [['a', 90], ['b', 90], ['c', 90]], want: [null, null, 'total'], held: 270 },
    { name: 'a release is never over', steps: [['a', 150], ['a', -150]], want: ['identity', null], held: 0 },
    { name: 'released bytes make room again', steps: [['a', 100], ['a', -100], ['a', 100]], want: [null, null, null], held: 100 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const b = new BufferBudget(() => ({ perIdentity: 100, total: 250 }));
      assert.deepEqual(c.steps.map(([id, d]) => b.change(id, d)?.cap ?? null), c.want);
      assert.equal(b.held, c.held);
    });
  }
  it('forgets an identity that holds nothing', () => {
    const b = new BufferBudget(() => ({ perIdentity: 100, total: 250 }));
    b.change('a', 10);
    b.change('a', -10);
    assert.equal(b.heldBy('a'), 0);
    assert.equal((b as unknown as { byIdentity: Map<string, number> }).byIdentity.size, 0);
  });
});
