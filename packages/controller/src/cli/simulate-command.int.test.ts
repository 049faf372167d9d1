import { Command } from 'commander';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { decodeSampleBatch, ensureStreams, StreamName } from '@faultline/protocol';
import { startNats, tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import type { CliIo } from './io.js';
import { simulateCommand } from './simulate-command.js';

describe('faultline simulate --nats', () => {
  it('publishes the virtual hosts live for --duration, then prints what it sent', async () => {
    await using nats = await startNats({ jetstream: true });
    await using dir = tempDir('sim-cli-live-');
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureStreams(jsm);
      const out: string[] = [];
      const codes: number[] = [];
      const io: CliIo = {
        out: (s) => out.push(s),
        err: (s) => out.push(s),
        setExitCode: (c) => codes.push(c),
      };
      const program = new Command('faultline').exitOverride().addCommand(simulateCommand(io).exitOverride());
      await program.parseAsync(
        [
          'simulate',
          '--nats',
          nats.url,
          '--hosts',
          '50',
          '--seed',
          '8',
          '--interval',
          '500ms',
          '--duration',
          '2200ms',
          '--agent-id',
          'sim-cli',
          '--data-dir',
          dir.path,
        ],
        { from: 'user' },
      );
      const text = out.join('');
      expect(text).toContain('simulating 50 hosts every 500 ms as agent sim-cli (seed 8) to');
      expect(text).toContain('stopping (duration reached)');
      const summary =
        /(\d+) ticks, (\d+) samples generated, (\d+) published, 0 left in the spool, 0 lost/.exec(text);
      expect(summary, text).not.toBeNull();
      const [, ticks, generated, published] = summary!.map(Number);
      expect(ticks).toBeGreaterThanOrEqual(4);
      expect(generated).toBe(50 * ticks!);
      expect(published).toBe(generated);
      expect(codes).toEqual([]);
      const info = await jsm.streams.info(StreamName.Samples);
      let samples = 0;
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(StreamName.Samples, { seq });
        if (m) samples += decodeSampleBatch(m.data).samples.length;
      }
      expect(samples).toBe(generated);
    } finally {
      await nc.close();
    }
  });
});
