import { expect, test } from 'bun:test';
import { LoginLimiter } from './limiter.ts';

test('failures from one address double the delay, up to the maximum', () => {
  const l = new LoginLimiter(100, 350);
  expect(l.failed('10.0.0.1')).toBe(100);
  expect(l.failed('10.0.0.1')).toBe(200);
  expect(l.failed('10.0.0.1')).toBe(350);
  expect(l.failed('10.0.0.2')).toBe(100);
});

test('parallel attempts from one address wait for each other; other addresses do not', async () => {
  const l = new LoginLimiter(60, 1000);
  l.failed('10.0.0.1');
  const t0 = performance.now();
  await Promise.all([l.before('10.0.0.1'), l.before('10.0.0.1')]);
  const slow = performance.now() - t0;
  // The second attempt queues behind the first one's slot.
  expect(slow).toBeGreaterThanOrEqual(100);
  const t1 = performance.now();
  await l.before('10.0.0.9');
  expect(performance.now() - t1).toBeLessThan(20);
});

test('success forgets the address', async () => {
  const l = new LoginLimiter(200, 1000);
  l.failed('10.0.0.1');
  l.succeeded('10.0.0.1');
  const t0 = performance.now();
  await l.before('10.0.0.1');
  expect(performance.now() - t0).toBeLessThan(20);
});
