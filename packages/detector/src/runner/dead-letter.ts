/**
 * Dead letters: a message that cannot be decoded is republished, byte for byte, on
 * `fl.dlq.<stream>.<partition>` (stream FL_DEADLETTER) with headers that say what was wrong
 * and where it came from, so that it can be inspected or replayed; the original is then
 * terminated, and never blocks its partition.
 *
 * | header | value |
 * |---|---|
 * | `Faultline-Error` | the error class, e.g. `MalformedMessageError` |
 * | `Faultline-Error-Code` | its stable code, e.g. `MALFORMED_MESSAGE` |
 * | `Faultline-Error-Message` | its message, on one line |
 * | `Faultline-Original-Stream` | e.g. `FL_SAMPLES` |
 * | `Faultline-Original-Subject` | e.g. `fl.samples.3.agent-7` |
 * | `Faultline-Original-Sequence` | the stream sequence of the original |
 * | `Faultline-Detector` | the replica that parked it |
 *
 * The JetStream message id is `dlq:<stream>:<sequence>`, so a redelivered original is parked once.
 */
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { subjects } from '@faultline/protocol';

/** Header names of a dead letter. */
export const DeadLetterHeader = {
  Error: 'Faultline-Error',
  ErrorCode: 'Faultline-Error-Code',
  ErrorMessage: 'Faultline-Error-Message',
  OriginalStream: 'Faultline-Original-Stream',
  OriginalSubject: 'Faultline-Original-Subject',
  OriginalSequence: 'Faultline-Original-Sequence',
  Detector: 'Faultline-Detector',
} as const;

/** What is parked. */
export interface DeadLetter {
  /** Stream of the original, e.g. FL_SAMPLES. */
  stream: string;
  partition: number;
  subject: string;
  /** Stream sequence of the original. */
  sequence: number;
  data: Uint8Array;
  error: Error & { code?: string };
  detectorId: string;
}

/** The JetStream message id of a dead letter. */
export function deadLetterMsgId(stream: string, sequence: number): string {
  return `dlq:${stream}:${sequence}`;
}

/** Publishes a dead letter (see the module comment) and resolves with the server's ack. */
export function publishDeadLetter(js: JetStreamClient, letter: DeadLetter): Promise<PubAck> {
  const h = headers();
  // Header values are single lines of printable text.
  const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ').slice(0, 1024);
  h.set(DeadLetterHeader.Error, oneLine(letter.error.name));
  h.set(DeadLetterHeader.ErrorCode, oneLine(letter.error.code ?? ''));
  h.set(DeadLetterHeader.ErrorMessage, oneLine(letter.error.message));
  h.set(DeadLetterHeader.OriginalStream, letter.stream);
  h.set(DeadLetterHeader.OriginalSubject, letter.subject);
  h.set(DeadLetterHeader.OriginalSequence, String(letter.sequence));
  h.set(DeadLetterHeader.Detector, letter.detectorId);
  return js.publish(subjects.deadLetter(letter.stream, letter.partition), letter.data, {
    headers: h,
    msgID: deadLetterMsgId(letter.stream, letter.sequence),
  });
}
