/**
 * Replays a range of a JetStream stream in stream order through an ordered consumer (no
 * acks, no durable state, deleted when done). Uses one filter subject per consumer, so it
 * works with nats-server 2.9.
 */
import { DeliverPolicy, type JetStreamClient, type OrderedConsumerOptions } from '@nats-io/jetstream';

/** Which messages to replay. */
export interface ReplayRange {
  /** Only messages whose subject matches this filter. Default every message. */
  readonly filterSubject?: string;
  /** First stream sequence to deliver. Default the stream's first. */
  readonly startSeq?: number;
  /**
   * Last stream sequence to deliver, inclusive. Default: up to the last message at the time
   * the replay starts, so that a stream still being written to ends the replay.
   */
  readonly endSeq?: number;
  /** Told, before the first message, how many messages to expect at most. */
  readonly onTotal?: (total: number) => void;
}

/** One replayed message. */
export interface ReplayedMessage {
  /** Stream sequence. */
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
}

const PULL_MESSAGES = 64;

/** Yields the messages of `stream` in `range`, in stream order. Ends when the range is delivered. */
export async function* replayStream(
  js: JetStreamClient,
  stream: string,
  range: ReplayRange = {},
): AsyncGenerator<ReplayedMessage> {
  const opts: Partial<OrderedConsumerOptions> = {};
  if (range.filterSubject !== undefined) opts.filter_subjects = range.filterSubject;
  if (range.startSeq !== undefined && range.startSeq > 1) {
    opts.deliver_policy = DeliverPolicy.StartSequence;
    opts.opt_start_seq = range.startSeq;
  } else {
    opts.deliver_policy = DeliverPolicy.All;
  }
  const consumer = await js.consumers.get(stream, opts);
  try {
    const pending = (await consumer.info(true)).num_pending;
    const end = range.endSeq;
    const total =
      end === undefined ? pending : Math.min(pending, Math.max(0, end - (range.startSeq ?? 1) + 1));
    range.onTotal?.(total);
    if (total === 0) return;
    const messages = await consumer.consume({ max_messages: PULL_MESSAGES });
    try {
      for await (const m of messages) {
        if (end !== undefined && m.seq > end) break;
        yield { seq: m.seq, subject: m.subject, data: m.data };
        if (m.info.pending === 0 || (end !== undefined && m.seq >= end)) break;
      }
    } finally {
      messages.stop();
    }
  } finally {
    await consumer.delete().catch(() => false);
  }
}
