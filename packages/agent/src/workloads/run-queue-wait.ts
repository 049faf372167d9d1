import { readdirSync, readFileSync } from 'node:fs';

/**
 * Time the threads of a process spent runnable but waiting for a cpu, ns: the second field
 * of `/proc/<pid>/task/<tid>/schedstat`, summed over the threads. Undefined when the process
 * is gone or the kernel has no schedstat (CONFIG_SCHED_INFO). A busy loop that gets less
 * cpu than it asks for waits here: the evidence of contention.
 */
export function readRunQueueWaitNs(procRoot: string, pid: number): number | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`${procRoot}/${pid}/task`);
  } catch {
    return undefined;
  }
  let waitNs = 0;
  let read = 0;
  for (const tid of tids) {
    try {
      const fields = readFileSync(`${procRoot}/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
      const wait = Number(fields[1]);
      if (Number.isFinite(wait)) {
        waitNs += wait;
        read++;
      }
    } catch {
      // The thread ended meanwhile.
    }
  }
  return read > 0 ? waitNs : undefined;
}
