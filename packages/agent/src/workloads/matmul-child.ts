/**
 * Workload process of the `matmul` kind, the seed's RAM-spike loop: `matrices` square
 * Float64Array matrices of one size filled with pseudo-random values, then `dots` products,
 * each normalised (divided by its Frobenius norm) so values stay bounded. One result matrix
 * is reused, so the process holds (matrices + 1) × size² × 8 bytes at its peak. The process
 * finishes when the products are done.
 */
import type { MatmulChildConfig } from './child-protocol.js';
import { runWorkloadChild, type ChildChannel } from './child-runtime.js';

/** c = a × b for n×n row-major matrices (i-k-j order: streams rows of b and c). */
function multiply(a: Float64Array, b: Float64Array, c: Float64Array, n: number): void {
  c.fill(0);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[row + k] as number;
      const bRow = k * n;
      for (let j = 0; j < n; j++) c[row + j] = (c[row + j] as number) + aik * (b[bRow + j] as number);
    }
  }
}

function normalise(c: Float64Array): void {
  let sum = 0;
  for (let i = 0; i < c.length; i++) sum += (c[i] as number) * (c[i] as number);
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < c.length; i++) c[i] = (c[i] as number) / norm;
}

/** Small products before `ready`, so the JIT's own memory is in the baseline, not in the spike. */
function warmUp(): void {
  const n = 48;
  const a = new Float64Array(n * n).fill(0.5);
  const c = new Float64Array(n * n);
  for (let i = 0; i < 40; i++) {
    multiply(a, a, c, n);
    normalise(c);
  }
}

runWorkloadChild<MatmulChildConfig>((config, channel) => {
  warmUp();
  channel.progress({ dotsDone: 0 });
  return () => run(config, channel);
});

function run(config: MatmulChildConfig, channel: ChildChannel): void {
  const n = config.size;
  // A small LCG: the values only need to be non-trivial, and reproducible from the seed.
  let state = config.seed >>> 0 || 1;
  const matrices: Float64Array[] = [];
  for (let m = 0; m < config.matrices; m++) {
    const matrix = new Float64Array(n * n);
    for (let i = 0; i < matrix.length; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      matrix[i] = state / 4294967296;
    }
    matrices.push(matrix);
  }
  const result = new Float64Array(n * n);
  let dot = 0;
  const step = (): void => {
    if (dot >= config.dots) {
      channel.finish();
      return;
    }
    const a = matrices[dot % matrices.length] as Float64Array;
    const b = matrices[(dot + 1) % matrices.length] as Float64Array;
    multiply(a, b, result, n);
    normalise(result);
    dot++;
    channel.progress({ dotsDone: dot });
    // One product per turn of the event loop, so the IPC channel is served in between.
    setImmediate(step);
  };
  step();
}
