// Deadlines of many connections (the load client's reply timeout, the capacity tester's dial timeout)
// are checked by one sweep rather than a timer each. How often it runs bounds how late a deadline is
// noticed: a tenth of the timeout, within limits that keep a short timeout from spinning the loop and
// a long one from being noticed seconds late.
import { describe, expect, it } from 'vitest';
import { deadlineSweepMs } from '../../lib/net/units.ts';

describe('deadline sweeps', () => {
  it('NET-SWEEP-001 sweeps every tenth of the timeout, in whole milliseconds, never more often than every 5 ms nor less often than every 100 ms', () => {
    expect(deadlineSweepMs(500)).toBe(50);
    expect(deadlineSweepMs(999)).toBe(99);
    expect(deadlineSweepMs(1001)).toBe(100);
    expect(deadlineSweepMs(60_000)).toBe(100);
    expect(deadlineSweepMs(55)).toBe(5);
    expect(deadlineSweepMs(20)).toBe(5);
    expect(deadlineSweepMs(1)).toBe(5);
  });
});
