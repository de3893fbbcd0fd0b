/**
 * Seeded randomness for the protocol tests (test-only): a failing random run can be replayed from
 * its seed.
 */

/** mulberry32: a tiny seeded PRNG; `rnd(n)` is a whole number in [0, n). */
export function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

/** Chunk sizes adding up to `total`, mixing tiny reads (split headers), typical ones and large ones. */
export function randomSizes(total: number, rnd: (n: number) => number): number[] {
  const sizes: number[] = [];
  for (let left = total; left > 0; ) {
    const mode = rnd(4);
    const want = mode === 0 ? 1 + rnd(5) : mode === 1 ? 1 + rnd(total) : 1 + rnd(64);
    const size = Math.min(want, left);
    sizes.push(size);
    left -= size;
  }
  return sizes;
}
