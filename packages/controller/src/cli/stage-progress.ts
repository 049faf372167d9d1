import { SingleBar } from 'cli-progress';

/** A progress bar on stderr for a replay that goes through named stages, one at a time. */
export interface StageProgress<S extends string> {
  update(done: number, total: number, stage: S): void;
  stop(): void;
}

export function stageProgressBar<S extends string>(): StageProgress<S> {
  const bar = new SingleBar({
    format: '{stage} [{bar}] {percentage}% | {value}/{total} messages',
    hideCursor: true,
  });
  let stage: S | undefined;
  return {
    update(done, total, next) {
      if (stage === undefined) bar.start(total, done, { stage: next });
      else if (stage !== next) bar.setTotal(total);
      stage = next;
      bar.update(done, { stage: next });
    },
    stop() {
      if (stage !== undefined) bar.stop();
    },
  };
}
