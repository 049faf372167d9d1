import type { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { MalformedMessageError } from './errors.js';
import { AnomalyEvent, ScoreBatch } from './gen/faultline/v1/detection.js';
import { TruthWindow } from './gen/faultline/v1/experiment.js';
import { Plan } from './gen/faultline/v1/plan.js';
import { SampleBatch } from './gen/faultline/v1/sample.js';

/** The encode/decode pair every generated message type has. */
export interface MessageCodec<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array, length?: number): T;
}

/**
 * Decodes `bytes` as `type`, then runs `validate`, which returns the first problem found
 * or undefined. Any failure is a {@link MalformedMessageError} naming the type and the
 * problem; nothing half-decoded escapes.
 */
export function decodeStrict<T>(
  codec: MessageCodec<T>,
  typeName: string,
  bytes: Uint8Array,
  validate?: (message: T) => string | undefined,
): T {
  let message: T;
  try {
    message = codec.decode(bytes);
  } catch (err) {
    throw new MalformedMessageError(typeName, (err as Error).message, { cause: err });
  }
  const problem = validate?.(message);
  if (problem !== undefined) throw new MalformedMessageError(typeName, problem);
  return message;
}

export function encodeMessage<T>(codec: MessageCodec<T>, message: T): Uint8Array {
  return codec.encode(message).finish();
}

function validateSampleBatch(batch: SampleBatch): string | undefined {
  if (batch.agentId === '') return 'agent_id is empty';
  if (batch.seq < 1n) return `seq must be >= 1, got ${batch.seq}`;
  for (let i = 0; i < batch.samples.length; i++) {
    const s = batch.samples[i]!;
    if (s.hostId === '') return `samples[${i}].host_id is empty`;
    if (s.timeUnixNano <= 0n) return `samples[${i}].time_unix_nano must be > 0, got ${s.timeUnixNano}`;
    if (s.host === undefined && s.process === undefined && Object.keys(s.metrics).length === 0) {
      return `samples[${i}] has no metrics (host, process and metrics are all empty)`;
    }
  }
  return undefined;
}

export function encodeSampleBatch(batch: SampleBatch): Uint8Array {
  return encodeMessage(SampleBatch, batch);
}

/** Decodes and validates a sample batch; throws {@link MalformedMessageError}. */
export function decodeSampleBatch(bytes: Uint8Array): SampleBatch {
  return decodeStrict(SampleBatch, 'faultline.v1.SampleBatch', bytes, validateSampleBatch);
}

export function encodeTruthWindow(truth: TruthWindow): Uint8Array {
  return encodeMessage(TruthWindow, truth);
}

/** Decodes and validates a truth window; throws {@link MalformedMessageError}. */
export function decodeTruthWindow(bytes: Uint8Array): TruthWindow {
  return decodeStrict(TruthWindow, 'faultline.v1.TruthWindow', bytes, (t) => {
    if (t.injectionId === '') return 'injection_id is empty';
    if (t.hostId === '') return 'host_id is empty';
    if (t.actualStartUnixNano <= 0n)
      return `actual_start_unix_nano must be > 0, got ${t.actualStartUnixNano}`;
    if (t.actualEndUnixNano !== 0n && t.actualEndUnixNano < t.actualStartUnixNano) {
      return `actual_end_unix_nano ${t.actualEndUnixNano} is before actual_start_unix_nano ${t.actualStartUnixNano}`;
    }
    return undefined;
  });
}

export function encodeAnomalyEvent(event: AnomalyEvent): Uint8Array {
  return encodeMessage(AnomalyEvent, event);
}

/** Decodes and validates an anomaly event; throws {@link MalformedMessageError}. */
export function decodeAnomalyEvent(bytes: Uint8Array): AnomalyEvent {
  return decodeStrict(AnomalyEvent, 'faultline.v1.AnomalyEvent', bytes, (e) => {
    if (e.eventId === '') return 'event_id is empty';
    if (e.hostId === '') return 'host_id is empty';
    return undefined;
  });
}

export function encodeScoreBatch(batch: ScoreBatch): Uint8Array {
  return encodeMessage(ScoreBatch, batch);
}

export function decodeScoreBatch(bytes: Uint8Array): ScoreBatch {
  return decodeStrict(ScoreBatch, 'faultline.v1.ScoreBatch', bytes);
}

export function encodePlan(plan: Plan): Uint8Array {
  return encodeMessage(Plan, plan);
}

export function decodePlan(bytes: Uint8Array): Plan {
  return decodeStrict(Plan, 'faultline.v1.Plan', bytes, (p) => {
    if (p.planId === '') return 'plan_id is empty';
    if (p.endUnixNano < p.startUnixNano) return 'end_unix_nano is before start_unix_nano';
    return undefined;
  });
}
