/**
 * Floats between their binary cells and the text the server prints: `float4out` / `float8out`
 * (shortest exact digits, Ryu as built into PostgreSQL) and `float4in` / `float8in` then
 * `float4send` / `float8send`, exactly, for the binary-format `fake` (binary-fake.ts).
 */

/**
 * `float4out` / `float8out` with extra_float_digits ≥ 1: the shortest digits that read back as the
 * same value (Ryu), printed fixed-point when the decimal exponent is in [-4, FLT_DIG or DBL_DIG),
 * else as `d.ddde+XX` (at least two exponent digits), as printf's %g does.
 */
export function floatText(x: number, single: boolean): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const sign = x < 0 ? '-' : '';
  const [digits, exp] = shortest(Math.abs(x), single);
  const limit = single ? 6 : 15;
  if (exp >= -4 && exp < limit) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
    if (digits.length <= exp + 1) return sign + digits + '0'.repeat(exp + 1 - digits.length);
    return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const e = Math.abs(exp);
  return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
}

/** Significant digits (no trailing zeros) and the decimal exponent of the first digit. */
function splitExponential(s: string): [string, number] {
  const e = s.indexOf('e');
  const digits = s.slice(0, e).replace('.', '').replace(/0+$/, '');
  return [digits || '0', Number(s.slice(e + 1))];
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/**
 * The shortest decimal Ryu prints for x (PostgreSQL's d2s.c / f2s.c, built without
 * STRICTLY_SHORTEST): the fewest digits p for which a p-digit decimal lies strictly inside the
 * interval of values that round to x (its ends excluded, whatever the mantissa's parity), and of
 * those the one closest to x, the even one on a tie. JavaScript's own shortest form includes the
 * ends when the mantissa is even, so it can be one digit shorter (3.846117946780232e+17 where
 * the server prints 3.8461179467802317e+17); for a double its length is a lower bound for p. For each p the correctly
 * rounded p-digit decimal and its two neighbours are tried (at a power of two the interval is
 * narrower below x than above), compared exactly in BigInt rationals.
 */
function shortest(x: number, single: boolean): [string, number] {
  let mant: bigint;
  let e2: number;
  let lowerHalf: boolean;
  if (single) {
    f32[0] = x;
    const bits = u32[0];
    const biased = (bits >>> 23) & 0xff;
    mant = BigInt(biased === 0 ? bits & 0x7fffff : (bits & 0x7fffff) | 0x800000);
    e2 = biased === 0 ? -149 : biased - 150;
    lowerHalf = (bits & 0x7fffff) === 0 && biased > 1;
  } else {
    f64[0] = x;
    const bits = u64[0];
    const biased = Number((bits >> 52n) & 0x7ffn);
    const frac = bits & 0xfffffffffffffn;
    mant = biased === 0 ? frac : frac | (1n << 52n);
    e2 = biased === 0 ? -1074 : biased - 1075;
    lowerHalf = frac === 0n && biased > 1;
  }
  // x = xn / xd, counted in quarters of its unit in the last place (2^(e2-2)).
  const xd = e2 >= 2 ? 1n : 1n << BigInt(2 - e2);
  const unit = e2 >= 2 ? 1n << BigInt(e2 - 2) : 1n;
  const xn = (mant << 2n) * unit;
  const above = 2n * unit;
  const below = lowerHalf ? unit : 2n * unit;
  const maxP = single ? 9 : 17;
  for (let p = single ? 1 : splitExponential(x.toExponential())[0].length; p <= maxP; p++) {
    const [d, exp] = splitExponential(x.toExponential(p - 1));
    const m = BigInt(d.padEnd(p, '0'));
    const k = exp - p + 1; // a candidate is c * 10^k
    const scale = k >= 0 ? 10n ** BigInt(k) : 1n;
    const cd = k >= 0 ? 1n : 10n ** BigInt(-k);
    let best: { c: bigint; dist: bigint } | undefined;
    for (const c of [m - 1n, m, m + 1n]) {
      if (c <= 0n) continue;
      // (c * scale / cd - xn / xd) * xd * cd, and the half-widths scaled the same way.
      const diff = c * scale * xd - xn * cd;
      const dist = diff < 0n ? -diff : diff;
      if (dist >= (diff < 0n ? below : above) * cd) continue;
      if (best === undefined || dist < best.dist || (dist === best.dist && c % 2n === 0n)) best = { c, dist };
    }
    if (best !== undefined) {
      const digits = String(best.c); // p digits, or one more or less after a neighbour's carry
      return [digits.replace(/0+$/, ''), k + digits.length - 1];
    }
  }
  return splitExponential(x.toExponential(maxP - 1));
}

/** Has the decimal text a non-zero digit in its mantissa (it does not denote zero)? */
const nonZero = (text: string) => /[1-9]/.test(text.replace(/[eE].*$/, ''));

/** `float8send` of the text read by `float8in`; null where float8in refuses it. */
export function float8Binary(text: string): Buffer | null {
  const v = Number(text);
  // float8in refuses a value out of range (overflow, or a non-zero value that underflows to 0).
  if (!Number.isFinite(v) || (v === 0 && nonZero(text))) return null;
  const out = Buffer.allocUnsafe(8);
  out.writeDoubleBE(v, 0);
  return out;
}

/** The sign of (decimal text − d), exactly; null when the text is not a plain decimal. */
function compareDecimal(text: string, d: number): number | null {
  const m = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(text);
  if (!m || (m[2] + (m[3] ?? '')) === '') return null;
  const frac = m[3] ?? '';
  const k = Number(m[4] ?? 0) - frac.length;
  let cn = BigInt(m[2] + frac) * (m[1] ? -1n : 1n);
  let cd = 1n;
  if (k >= 0) cn *= 10n ** BigInt(k);
  else cd = 10n ** BigInt(-k);
  f64[0] = d;
  const bits = u64[0];
  const biased = Number((bits >> 52n) & 0x7ffn);
  const frac2 = bits & 0xfffffffffffffn;
  let dn = (biased === 0 ? frac2 : frac2 | (1n << 52n)) * (bits >> 63n ? -1n : 1n);
  const e2 = biased === 0 ? -1074 : biased - 1075;
  let dd = 1n;
  if (e2 >= 0) dn <<= BigInt(e2);
  else dd = 1n << BigInt(-e2);
  const diff = cn * dd - dn * cd;
  return diff > 0n ? 1 : diff < 0n ? -1 : 0;
}

/** `float4send` of the text read by `float4in` (one rounding, as strtof); null where float4in refuses it. */
export function float4Binary(text: string): Buffer | null {
  const d = Number(text);
  const v = Math.fround(d);
  if (!Number.isFinite(v) || (v === 0 && nonZero(text))) return null;
  if (v !== d) {
    // Reading the text to a double and then to a float rounds twice: when the double falls
    // exactly half-way between two floats, the second rounding must go the side the decimal
    // itself lies on (float4in rounds once), which only an exact comparison tells.
    f32[0] = v;
    u32[0] += d > v === v > 0 ? 1 : -1;
    const other = f32[0];
    if (d - v === other - d) {
      const side = compareDecimal(text, d);
      if (side === null) return null;
      if (side !== 0) {
        const awayFromZero = side > 0 === d > 0;
        const pick = Math.abs(other) > Math.abs(v) === awayFromZero ? other : v;
        const out = Buffer.allocUnsafe(4);
        out.writeFloatBE(pick, 0);
        return out;
      }
    }
  }
  const out = Buffer.allocUnsafe(4);
  out.writeFloatBE(v, 0);
  return out;
}
