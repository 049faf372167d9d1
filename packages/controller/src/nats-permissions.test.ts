import { describe, expect, it } from 'vitest';
import { natsRolePermissions, natsUser, renderNatsAuthorization } from './nats-permissions.js';

describe('natsRolePermissions', () => {
  it('lets an agent publish its own samples and truth only, and read its own inbox', () => {
    expect(natsRolePermissions('agent', 'host-7')).toEqual({
      publish: ['fl.samples.*.host-7', 'fl.truth.*.host-7'],
      subscribe: ['_INBOX_host-7.>'],
    });
  });

  it('gives the CLI no data-plane subject and no stream changes', () => {
    const p = natsRolePermissions('cli', 'cli');
    expect(p.publish.filter((s) => s.startsWith('fl.'))).toEqual([]);
    expect(p.publish.filter((s) => /^\$JS\.API\.STREAM\.(CREATE|UPDATE|DELETE|PURGE)\./.test(s))).toEqual([]);
    expect(p.publish).toContain('$JS.API.CONSUMER.MSG.NEXT.FL_SAMPLES.*');
    expect(p.subscribe).toEqual(['_INBOX_cli.>']);
  });

  it('lets the detector publish its outputs but not samples or truth, and never delete a stream', () => {
    const p = natsRolePermissions('detector', 'detector');
    expect(p.publish.filter((s) => s.startsWith('fl.'))).toEqual([
      'fl.scores.>',
      'fl.anomalies.>',
      'fl.dlq.>',
      'fl.detector.>',
    ]);
    expect(p.publish).toContain('$JS.ACK.FL_SAMPLES.>');
    expect(p.publish.some((s) => s.startsWith('$JS.API.STREAM.DELETE'))).toBe(false);
    expect(p.publish.filter((s) => s.startsWith('$JS.API.STREAM.UPDATE'))).toEqual([
      '$JS.API.STREAM.UPDATE.FL_DETECTOR_LEASES',
    ]);
  });

  it('lets the controller create and update the five data-plane streams and publish nothing else', () => {
    const p = natsRolePermissions('controller', 'controller');
    expect(p.publish.filter((s) => s.startsWith('$JS.API.STREAM.CREATE'))).toEqual([
      '$JS.API.STREAM.CREATE.FL_SAMPLES',
      '$JS.API.STREAM.CREATE.FL_TRUTH',
      '$JS.API.STREAM.CREATE.FL_ANOMALIES',
      '$JS.API.STREAM.CREATE.FL_SCORES',
      '$JS.API.STREAM.CREATE.FL_DEADLETTER',
    ]);
    expect(p.publish.every((s) => s.startsWith('$JS.API.'))).toBe(true);
  });
});

describe('renderNatsAuthorization', () => {
  it('writes one user entry per identity, with public keys only', () => {
    const text = renderNatsAuthorization([
      natsUser('agent', 'a1', { nkey: 'UAAA' }),
      natsUser('cli', 'reader', { password: 'p"w' }),
    ]);
    expect(text).toBe(
      'authorization {\n' +
        '  users = [\n' +
        '    # agent a1: publishes its own samples and truth only\n' +
        '    {\n' +
        '      nkey: UAAA\n' +
        '      permissions: {\n' +
        '        publish: { allow: [\n' +
        '          "fl.samples.*.a1",\n' +
        '          "fl.truth.*.a1"\n' +
        '        ] }\n' +
        '        subscribe: { allow: [\n' +
        '          "_INBOX_a1.>"\n' +
        '        ] }\n' +
        '      }\n' +
        '    }\n' +
        '    # cli: reads the streams for export and report; publishes nothing\n' +
        '    {\n' +
        '      user: "reader", password: "p\\"w"\n' +
        text.slice(text.indexOf('      permissions: {', text.indexOf('reader'))),
    );
  });
});
