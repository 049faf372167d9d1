import { describe, expect, it } from 'vitest';
import { isInvalidOptionsError } from '../errors.js';
import { INSTANCES_PER_SILO, SERVER_MODELS, TOTAL_SILOS } from './fleet-catalog.js';
import { buildFleet, virtualAgentInfos } from './fleet-model.js';

describe('buildFleet', () => {
  it('lays out the whole topology at host scale 1: 101 silos of 10 instances over 7 regions', () => {
    const fleet = buildFleet({ seed: 1 });
    expect(TOTAL_SILOS).toBe(101);
    expect(INSTANCES_PER_SILO).toBe(10);
    expect(fleet.hosts).toHaveLength(1010);
    expect(fleet.dimensions).toMatchObject({ regions: 7, silos: 101, microservices: 5 });
    const perMicroservice = new Map<string, number>();
    for (const h of fleet.hosts)
      perMicroservice.set(h.microservice, (perMicroservice.get(h.microservice) ?? 0) + 1);
    expect(Object.fromEntries(perMicroservice)).toEqual({
      apollo: 303,
      athena: 101,
      demeter: 202,
      hercules: 202,
      zeus: 202,
    });
  });

  it('names hosts and dimensions the way the DevOps generator does', () => {
    const [host] = buildFleet({
      seed: 1,
      includeRegions: ['eu-central-1'],
      includeMicroservices: ['athena'],
    }).hosts;
    expect(host).toBeDefined();
    expect(host!.region).toBe('eu-central-1');
    expect(host!.cell).toBe('eu-central-1-cell-1');
    expect(host!.silo).toBe('eu-central-1-cell-1-silo-1');
    expect(host!.availabilityZone).toMatch(/^eu-central-1-[123]$/);
    expect(host!.hostId).toMatch(/^i-[A-Za-z0-9]{8}-athena-\d{4}$/);
    expect(host!.instanceName).toBe(`${host!.hostId}.amazonaws.com`);
    expect(host!.serialNumber).toMatch(/^[A-Z]{3}\d{4}[A-Z0-9]{3}$/);
    expect(host!.jdkVersion).toMatch(/^JDK_\d+$/);
  });

  it('simulates exactly one host for eu-central-1 and athena, as the seed says', () => {
    expect(
      buildFleet({ includeRegions: ['eu-central-1'], includeMicroservices: ['athena'] }).hosts,
    ).toHaveLength(1);
  });

  it('gives the same hosts for the same seed and different ones for another', () => {
    const a = buildFleet({ seed: 'fleet-a', hosts: 50 });
    const b = buildFleet({ seed: 'fleet-a', hosts: 50 });
    const c = buildFleet({ seed: 'fleet-b', hosts: 50 });
    expect(b.hosts).toEqual(a.hosts);
    expect(c.hosts.map((h) => h.hostId)).not.toEqual(a.hosts.map((h) => h.hostId));
  });

  it('keeps a host the same whatever the host count and filters', () => {
    const all = buildFleet({ seed: 3 });
    const eu = buildFleet({ seed: 3, includeRegions: ['eu-west-1'] });
    const same = all.hosts.find((h) => h.hostId === eu.hosts[0]!.hostId);
    expect(same).toEqual({ ...eu.hosts[0], index: same!.index });
  });

  it('scales up for more hosts and spreads fewer hosts evenly over the regions', () => {
    const big = buildFleet({ seed: 1, hosts: 10_000 });
    expect(big.hosts).toHaveLength(10_000);
    expect(big.hostScale).toBe(10);
    expect(new Set(big.hosts.map((h) => h.hostId)).size).toBe(10_000);
    expect(new Set(big.hosts.map((h) => h.serialNumber)).size).toBe(10_000);
    const few = buildFleet({ seed: 1, hosts: 101 });
    // One host per silo's stride: every silo, hence every region, is represented.
    expect(few.dimensions.silos).toBe(101);
    expect(few.dimensions.regions).toBe(7);
  });

  it('takes its inventory from the catalog: idle below max watts, a known location per region', () => {
    for (const h of buildFleet({ seed: 9, hosts: 300 }).hosts) {
      const model = SERVER_MODELS.find((m) => m.model === h.serverModel)!;
      expect(h.idleWatts).toBe(model.idleWatts);
      expect(h.maxWatts).toBeGreaterThan(h.idleWatts);
      expect(h.memoryTotalBytes).toBeGreaterThanOrEqual(16 * 2 ** 30);
    }
  });

  it('draws the high-cpu profile with the requested fraction', () => {
    const hosts = buildFleet({ seed: 5, hosts: 5000, highCpuFraction: 0.3 }).hosts;
    const high = hosts.filter((h) => h.cpuProfile === 'high').length / hosts.length;
    expect(high).toBeGreaterThan(0.27);
    expect(high).toBeLessThan(0.33);
  });

  it('refuses unknown regions and out-of-range counts, naming the field and the value', () => {
    expect(() => buildFleet({ includeRegions: ['mars-1'] })).toThrow(
      /includeRegions\[0\] must be one of us-east-1, .*, got "mars-1"/,
    );
    expect(() => buildFleet({ hosts: 0 })).toThrow('hosts must be an integer in [1, 1000000], got 0');
    try {
      buildFleet({ highCpuFraction: 1.5 });
      expect.unreachable();
    } catch (err) {
      expect(isInvalidOptionsError(err)).toBe(true);
      expect((err as Error).message).toBe('highCpuFraction must be in [0, 1], got 1.5');
    }
  });

  it('describes virtual hosts as agents with selector labels', () => {
    const fleet = buildFleet({ seed: 2, hosts: 3 });
    const [agent] = virtualAgentInfos(fleet);
    expect(agent!.agentId).toBe(fleet.hosts[0]!.hostId);
    expect(agent!.hostIds).toEqual([fleet.hosts[0]!.hostId]);
    expect(agent!.labels).toMatchObject({
      simulated: 'true',
      region: fleet.hosts[0]!.region,
      microservice_name: fleet.hosts[0]!.microservice,
    });
    expect(agent!.memoryTotalBytes).toBe(BigInt(fleet.hosts[0]!.memoryTotalBytes));
  });
});
