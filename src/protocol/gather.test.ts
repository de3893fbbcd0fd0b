/**
 * The gather hands back exactly the bytes pushed and written, in order, as few pieces as the
 * memory allows: runs of one chunk merge into one view (no copy), rewritten rows written one
 * after another are one piece, and bytes already handed out are never written again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteGather } from './gather.ts';

function write(g: ByteGather, text: string): void {
  const b = g.room(text.length);
  b.write(text, g.at, 'latin1');
  g.commit(text.length);
}

describe('ByteGather', () => {
  it('merges runs of one chunk into one view of it', () => {
    const chunk = Buffer.from('abcdefghij');
    const g = new ByteGather();
    g.push(chunk.subarray(0, 3));
    g.push(chunk.subarray(3, 7));
    g.push(chunk.subarray(7));
    const parts = g.take();
    assert.equal(parts.length, 1);
    assert.equal(parts[0].buffer, chunk.buffer);
    assert.equal(parts[0].toString(), 'abcdefghij');
  });

  const cases: { name: string; steps: (g: ByteGather, chunk: Buffer) => void; want: string; pieces: number }[] = [
    { name: 'rows written back to back are one piece', steps: (g) => (write(g, 'row1'), write(g, 'row2'), write(g, 'row3')), want: 'row1row2row3', pieces: 1 },
    { name: 'chunk, written, chunk', steps: (g, c) => (g.push(c.subarray(0, 2)), write(g, 'XY'), g.push(c.subarray(2, 4))), want: 'abXYcd', pieces: 3 },
    { name: 'a gap in the chunk is two pieces', steps: (g, c) => (g.push(c.subarray(0, 2)), g.push(c.subarray(3, 5))), want: 'abde', pieces: 2 },
    { name: 'empty pushes add nothing', steps: (g, c) => (g.push(c.subarray(0, 0)), g.push(c.subarray(1, 2))), want: 'b', pieces: 1 },
    { name: 'a write larger than the scratch', steps: (g) => (write(g, 'a'), write(g, 'z'.repeat(300_000)), write(g, 'b')), want: 'a' + 'z'.repeat(300_000) + 'b', pieces: 3 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const g = new ByteGather();
      c.steps(g, Buffer.from('abcdef'));
      assert.equal(g.size, c.want.length);
      const parts = g.take();
      assert.equal(Buffer.concat(parts).toString('latin1'), c.want);
      assert.equal(parts.length, c.pieces);
      assert.equal(g.size, 0);
      assert.deepEqual(g.take(), []);
    });
  }

  it('never writes again over bytes it handed out', () => {
    const g = new ByteGather();
    write(g, 'first');
    const [first] = g.take();
    write(g, 'second');
    const [second] = g.take();
    assert.equal(first.toString(), 'first');
    assert.equal(second.toString(), 'second');
  });
});
