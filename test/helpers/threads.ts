/** Running a piece of a test at a given thread count of the native kernel. */
import { getThreads, setThreads } from '../../src/kernels/threads.js';

/** The thread counts the thread tests compare with one thread (more than this machine's cores take turns). */
export const THREAD_COUNTS = [2, 3, 4, 8];

/** fn's result at n threads (`setThreads`), the setting restored after. */
export function atThreads<T>(n: number, fn: () => T): T {
  const before = getThreads();
  try {
    setThreads(n);
    return fn();
  } finally {
    setThreads(before);
  }
}
