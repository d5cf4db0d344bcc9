/** Comparing floats bit for bit, as the tests of the kernels' threads, wavefronts and builds do. */
import assert from 'node:assert/strict';

/**
 * Asserts that got and want hold the same floats bit for bit (Object.is, element by element: -0 and NaN
 * included), both present or both null; a failure names the element and what `reference` gave there.
 */
export function assertSameBits(
  what: string,
  got: ArrayLike<number> | null,
  want: ArrayLike<number> | null,
  reference = 'one thread',
): void {
  assert.equal(got === null, want === null, `${what}: present`);
  if (!got || !want) return;
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) assert.fail(`${what}[${i}] = ${got[i]}, ${reference} ${want[i]}`);
  }
}
