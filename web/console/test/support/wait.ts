// Waiting for the console to settle, with a deadline that only matters when something is wrong:
// vi.waitFor's own default (1 s) failed on a loaded machine (two `make test` runs at once) while
// the page was merely slow. Used instead of vi.waitFor in the component tests.
import { vi } from 'vitest';

export function until<T>(check: () => T | Promise<T>): Promise<T> {
  return vi.waitFor(check, { timeout: 10_000, interval: 20 });
}
