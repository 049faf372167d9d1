/**
 * Checkpoints of a partition in `FL_DETECTOR_CHECKPOINTS`: one record per host (its state,
 * opaque bytes here) and one marker per partition. The marker says up to which FL_SAMPLES
 * stream sequence the partition's checkpoint is complete and which lease tenure (epoch) wrote
 * it; markers are written compare-and-set, so a replica that lost its lease cannot move the
 * marker of the new owner.
 *
 * A new owner reads the marker and the host records, and consumes the partition from the
 * marker's sequence + 1. Host records may be newer than the marker (a checkpoint interrupted
 * between the hosts and the marker): each carries its host's last scored sample, so the new
 * owner skips what that host already scored.
 */
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';

import { isWrongLastSequence } from './partition-leases.js';
import { detectorSubjects, DetectorStreamName, hostIdFromSubjectToken } from './detector-streams.js';

/** A partition's checkpoint marker. */
export interface CheckpointMarker {
  /** FL_SAMPLES stream sequence up to which every message of the partition is in the checkpoint. */
  readonly streamSeq: number;
  /** Epoch of the lease under which it was written. */
  readonly epoch: number;
  /** The replica that wrote it. */
  readonly owner: string;
}

/** A marker with its stream sequence, for the next compare-and-set. */
export interface StoredMarker extends CheckpointMarker {
  readonly revision: number;
  /** Why the stored marker could not be read (it is then taken as sequence 0). */
  readonly malformed?: string;
}

/** One host's stored record. */
export interface HostRecord {
  readonly hostId: string;
  readonly data: Uint8Array;
}

/** Reads and writes one group's checkpoints. */
export class CheckpointStore {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #group: string;
  readonly #encoder = new TextEncoder();
  readonly #decoder = new TextDecoder();

  constructor(js: JetStreamClient, jsm: JetStreamManager, group: string) {
    this.#js = js;
    this.#jsm = jsm;
    this.#group = group;
  }

  /**
   * The partition's marker, if one was ever written. An unreadable one comes back as a marker
   * at stream sequence 0 with `malformed` saying why (with its revision, so it can be replaced):
   * the partition is then replayed from its first message, and the replayed outputs are
   * dropped as duplicates.
   */
  async readMarker(partition: number): Promise<StoredMarker | undefined> {
    const msg = await this.#jsm.streams.getMessage(DetectorStreamName.Checkpoints, {
      last_by_subj: detectorSubjects.marker(this.#group, partition),
    });
    if (msg === null) return undefined;
    let v: Partial<CheckpointMarker> | undefined;
    try {
      v = JSON.parse(this.#decoder.decode(msg.data)) as Partial<CheckpointMarker>;
    } catch {
      v = undefined;
    }
    if (
      v === undefined ||
      typeof v.streamSeq !== 'number' ||
      typeof v.epoch !== 'number' ||
      typeof v.owner !== 'string'
    ) {
      return {
        streamSeq: 0,
        epoch: 0,
        owner: '',
        revision: msg.seq,
        malformed: v === undefined ? 'not JSON' : 'lacks streamSeq, epoch or owner',
      };
    }
    return { streamSeq: v.streamSeq, epoch: v.epoch, owner: v.owner, revision: msg.seq };
  }

  /**
   * Writes the marker if the current one is still at `expectRevision` (0: none yet). Returns
   * the new revision, or undefined when another writer got there first (the lease was lost).
   */
  async writeMarker(
    partition: number,
    marker: CheckpointMarker,
    expectRevision: number,
  ): Promise<number | undefined> {
    let expected = expectRevision;
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await this.#js.publish(
          detectorSubjects.marker(this.#group, partition),
          this.#encoder.encode(JSON.stringify(marker)),
          { expect: { lastSubjectSequence: expected } },
        );
        return ack.seq;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
        // A write of the same tenure whose ack was lost (a reconnect) moved the marker: go on
        // from it. A marker of another epoch or owner means the lease was lost.
        const current = await this.readMarker(partition);
        if (
          attempt > 0 ||
          current === undefined ||
          current.epoch !== marker.epoch ||
          current.owner !== marker.owner
        ) {
          return undefined;
        }
        expected = current.revision;
      }
    }
  }

  /** Stores one host's record (replacing the previous one). */
  async writeHost(partition: number, hostId: string, data: Uint8Array): Promise<void> {
    await this.#js.publish(detectorSubjects.hostCheckpoint(this.#group, partition, hostId), data);
  }

  /** Every host record of the partition (the latest of each host). */
  async readHosts(partition: number): Promise<HostRecord[]> {
    const filter = detectorSubjects.hostCheckpoints(this.#group, partition);
    const info = await this.#jsm.streams.info(DetectorStreamName.Checkpoints, { subjects_filter: filter });
    const expected = Object.keys(info.state.subjects ?? {}).length;
    if (expected === 0) return [];
    const consumer = await this.#js.consumers.get(DetectorStreamName.Checkpoints, {
      filter_subjects: filter,
      deliver_policy: DeliverPolicy.LastPerSubject,
    });
    const prefix = filter.slice(0, -1);
    const out: HostRecord[] = [];
    const messages = await consumer.fetch({ max_messages: expected, expires: 5000 });
    for await (const m of messages) {
      out.push({ hostId: hostIdFromSubjectToken(m.subject.slice(prefix.length)), data: m.data });
      // A record can expire between the count and the fetch: stop at the last one pending.
      if (m.info.pending === 0) break;
    }
    await messages.close();
    return out;
  }
}
