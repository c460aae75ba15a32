import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplayWindow, WINDOW_SIZE } from '../../main/core/replay-window';
import { seededRandom } from '../lib/sim';

describe('replay window', () => {
  it('accepts in order, rejects duplicates', () => {
    const w = new ReplayWindow();
    for (let i = 0; i < 100; i++) assert.ok(w.accept(i));
    for (let i = 0; i < 100; i++) assert.ok(!w.accept(i));
  });

  it('accepts reordered counters within the window exactly once, rejects older ones', () => {
    const w = new ReplayWindow();
    assert.ok(w.accept(20_000));
    assert.ok(w.accept(20_000 - 5));
    assert.ok(!w.accept(20_000 - 5));
    assert.ok(w.check(20_000 - WINDOW_SIZE + 1));
    assert.ok(w.accept(20_000 - WINDOW_SIZE + 1));
    assert.ok(!w.check(20_000 - WINDOW_SIZE));
    assert.ok(!w.accept(0));
  });

  it('a jump forward by more than the window forgets everything behind it', () => {
    const w = new ReplayWindow();
    for (let i = 0; i < 50; i++) w.accept(i);
    assert.ok(w.accept(1_000_000));
    assert.ok(w.accept(1_000_000 - 100)); // never seen, inside the window
    assert.ok(!w.accept(49));
  });

  it('rejects negative and unsafe counters; reset() starts over', () => {
    const w = new ReplayWindow();
    assert.ok(!w.accept(-1));
    assert.ok(!w.accept(2 ** 53));
    w.accept(5);
    w.reset();
    assert.ok(w.accept(5));
  });

  it('agrees with a reference model over 100k random counters near the front', () => {
    const rnd = seededRandom(7);
    const w = new ReplayWindow();
    const seen = new Set<number>();
    let max = -1;
    let front = 0;
    for (let i = 0; i < 100_000; i++) {
      const r = rnd(2);
      front += r[0] % 4; // the front moves forward slowly
      const c = Math.max(0, front - (((r[1] << 6) | (r[0] & 63)) % (WINDOW_SIZE + 500)));
      const expect = c > max || (max - c < WINDOW_SIZE && !seen.has(c));
      assert.equal(w.accept(c), expect, `counter ${c} (max ${max})`);
      if (expect) {
        seen.add(c);
        max = Math.max(max, c);
      }
    }
  });
});
