/**
 * The simulated fleet: which virtual hosts there are and what they are. Pure and
 * deterministic: every host's attributes come from a generator seeded with the fleet seed
 * and the host's place in the topology, so a host keeps its name, instance type, server and
 * serial number whatever the host count or the filters.
 *
 * @example
 * ```ts
 * const fleet = buildFleet({ seed: 42, hosts: 100, includeRegions: ['eu-west-1'] });
 * fleet.hosts[0]; // { hostId: 'i-…-apollo-0000', region: 'eu-west-1', silo: 'eu-west-1-cell-1-silo-1', … }
 * ```
 */
import { createRng, type AgentInfo, type Rng } from '@faultline/protocol';
import { InvalidOptionsError } from '../errors.js';
import {
  findInstanceType,
  findLocation,
  findServerModel,
  JDK_VERSIONS,
  MICROSERVICES,
  OS_VERSIONS,
  REGIONS,
} from './fleet-catalog.js';

/** Options of {@link buildFleet}. */
export interface FleetOptions {
  /** Seed of every draw (a 32-bit integer or a string). Default 0. */
  seed?: number | string;
  /**
   * Hosts to simulate, an integer in [1, 1000000]. Default: every instance of the (filtered)
   * topology at `hostScale`. When larger than that, the scale grows until it fits; when
   * smaller, the hosts are picked evenly across the topology, so every region and silo in
   * the filter keeps its share.
   */
  hosts?: number;
  /** Factor on the instances per microservice and silo, an integer in [1, 10000]. Default 1 (1,010 instances). */
  hostScale?: number;
  /** Regions to simulate (names as in `REGIONS`). Default all 7. */
  includeRegions?: readonly string[];
  /** Microservices to simulate (apollo, athena, demeter, hercules, zeus). Default all 5. */
  includeMicroservices?: readonly string[];
  /** Fraction of hosts with the high-cpu profile (cpu_user around 85 %, else 15 %), in [0, 1]. Default 0.2. */
  highCpuFraction?: number;
}

export interface ResolvedFleetOptions {
  readonly seed: number | string;
  readonly hosts: number | undefined;
  readonly hostScale: number;
  readonly includeRegions: readonly string[];
  readonly includeMicroservices: readonly string[];
  readonly highCpuFraction: number;
}

export const MAX_SIMULATED_HOSTS = 1_000_000;

function checkInteger(field: string, value: number, min: number, max: number): number {
  if (!(Number.isInteger(value) && value >= min && value <= max)) {
    throw new InvalidOptionsError(field, `${field} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}

function checkNames(field: string, raw: readonly string[] | undefined, known: readonly string[]): string[] {
  if (raw === undefined || raw.length === 0) return [...known];
  raw.forEach((name, i) => {
    if (!known.includes(name)) {
      throw new InvalidOptionsError(
        field,
        `${field}[${i}] must be one of ${known.join(', ')}, got ${JSON.stringify(name)}`,
      );
    }
  });
  return known.filter((name) => raw.includes(name));
}

/** Applies defaults and validates; throws {@link InvalidOptionsError} naming the field, the range and the value. */
export function resolveFleetOptions(raw: FleetOptions = {}): ResolvedFleetOptions {
  const seed = raw.seed ?? 0;
  if (!(typeof seed === 'string' || Number.isInteger(seed))) {
    throw new InvalidOptionsError('seed', `seed must be an integer or a string, got ${String(seed)}`);
  }
  const highCpuFraction = raw.highCpuFraction ?? 0.2;
  if (!(highCpuFraction >= 0 && highCpuFraction <= 1)) {
    throw new InvalidOptionsError(
      'highCpuFraction',
      `highCpuFraction must be in [0, 1], got ${highCpuFraction}`,
    );
  }
  return {
    seed,
    hosts: raw.hosts === undefined ? undefined : checkInteger('hosts', raw.hosts, 1, MAX_SIMULATED_HOSTS),
    hostScale: checkInteger('hostScale', raw.hostScale ?? 1, 1, 10_000),
    includeRegions: checkNames(
      'includeRegions',
      raw.includeRegions,
      REGIONS.map((r) => r.name),
    ),
    includeMicroservices: checkNames(
      'includeMicroservices',
      raw.includeMicroservices,
      MICROSERVICES.map((m) => m.name),
    ),
    highCpuFraction,
  };
}

/**
 * One virtual host: its metric dimensions (as the DevOps generator names them), its event
 * dimensions, and its place in the server inventory.
 */
export interface VirtualHostSpec {
  /** Position in the fleet, from 0. */
  readonly index: number;
  /** `i-<8 characters>-<microservice>-<nnnn>`: the sample's host id (a NATS subject token). */
  readonly hostId: string;
  readonly region: string;
  /** `<region>-cell-<n>`. */
  readonly cell: string;
  /** `<cell>-silo-<n>`. */
  readonly silo: string;
  /** `<region>-<1..3>`. */
  readonly availabilityZone: string;
  readonly microservice: string;
  /** `<hostId>.amazonaws.com`. */
  readonly instanceName: string;
  readonly instanceType: string;
  readonly osVersion: string;
  /** Event dimension: the process that emits the host's events. */
  readonly process: string;
  /** Event dimension. */
  readonly jdkVersion: string;
  /** Inventory: `[A-Z]{3}[0-9]{4}[A-Z0-9]{3}`, unique in the fleet. */
  readonly serialNumber: string;
  readonly serverModel: string;
  /** Data center id (see `LOCATIONS`). */
  readonly location: string;
  /** Power envelope of the server model, W. */
  readonly idleWatts: number;
  readonly maxWatts: number;
  /** Inlet air temperature of the location, °C. */
  readonly ambientCelsius: number;
  readonly vcpus: number;
  /** Memory of the instance type, bytes. */
  readonly memoryTotalBytes: number;
  /** Host-specific disk use around which `disk_used` moves, GB. */
  readonly diskBaseGigabytes: number;
  /** Processes the host runs when idle (HostMetrics.procs_total). */
  readonly baseProcesses: number;
  /** cpu_user around 85 % (`high`) or 15 % (`low`). */
  readonly cpuProfile: 'high' | 'low';
}

/** The fleet, with counts of its dimensions for a dry run. */
export interface Fleet {
  readonly options: ResolvedFleetOptions;
  /** The host scale used: `hostScale`, or more when `hosts` needed it. */
  readonly hostScale: number;
  readonly hosts: readonly VirtualHostSpec[];
  readonly dimensions: {
    readonly regions: number;
    readonly cells: number;
    readonly silos: number;
    readonly availabilityZones: number;
    readonly microservices: number;
    readonly instanceTypes: number;
    readonly serverModels: number;
    readonly locations: number;
  };
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const DIGITS = '0123456789';

function draw(rng: Rng, alphabet: string, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
  return s;
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)]!;
}

/** A place in the topology: silo `siloIndex` (over all regions), microservice instance `ordinal`. */
interface Slot {
  region: (typeof REGIONS)[number];
  cellNumber: number;
  siloNumber: number;
  siloIndex: number;
  microservice: (typeof MICROSERVICES)[number];
  /** Index of the instance among the microservice's instances in the whole topology. */
  ordinal: number;
  /** Index of the instance in its silo (all microservices). */
  inSilo: number;
}

function enumerateSlots(options: ResolvedFleetOptions, scale: number): Slot[] {
  const slots: Slot[] = [];
  let siloIndex = 0;
  for (const region of REGIONS) {
    const included = options.includeRegions.includes(region.name);
    for (let c = 1; c <= region.cells; c++) {
      for (let s = 1; s <= region.silosPerCell; s++, siloIndex++) {
        if (!included) continue;
        let inSilo = 0;
        for (const ms of MICROSERVICES) {
          const perSilo = ms.instancesPerSilo * scale;
          if (!options.includeMicroservices.includes(ms.name)) {
            inSilo += perSilo;
            continue;
          }
          for (let i = 0; i < perSilo; i++, inSilo++) {
            slots.push({
              region,
              cellNumber: c,
              siloNumber: s,
              siloIndex,
              microservice: ms,
              ordinal: siloIndex * perSilo + i,
              inSilo,
            });
          }
        }
      }
    }
  }
  return slots;
}

function slotCount(options: ResolvedFleetOptions, scale: number): number {
  const silos = REGIONS.filter((r) => options.includeRegions.includes(r.name)).reduce(
    (n, r) => n + r.cells * r.silosPerCell,
    0,
  );
  const perSilo = MICROSERVICES.filter((m) => options.includeMicroservices.includes(m.name)).reduce(
    (n, m) => n + m.instancesPerSilo,
    0,
  );
  return silos * perSilo * scale;
}

function hostOf(
  slot: Slot,
  index: number,
  options: ResolvedFleetOptions,
  serials: Set<string>,
): VirtualHostSpec {
  const ms = slot.microservice;
  const cell = `${slot.region.name}-cell-${slot.cellNumber}`;
  const silo = `${cell}-silo-${slot.siloNumber}`;
  const rng = createRng(`${String(options.seed)}/host/${silo}/${ms.name}/${slot.ordinal}`);
  const hostId = `i-${draw(rng, ALNUM, 8)}-${ms.name}-${String(slot.ordinal).padStart(4, '0')}`;
  const type = findInstanceType(pick(rng, ms.instanceTypes));
  const server = findServerModel(pick(rng, type.serverModels));
  const zone = slot.inSilo % 3;
  const loc = findLocation(slot.region.locations[zone % slot.region.locations.length]!);
  let serialNumber = '';
  do {
    serialNumber = `${draw(rng, UPPER, 3)}${draw(rng, DIGITS, 4)}${draw(rng, UPPER_DIGITS, 3)}`;
  } while (serials.has(serialNumber));
  serials.add(serialNumber);
  return {
    index,
    hostId,
    region: slot.region.name,
    cell,
    silo,
    availabilityZone: `${slot.region.name}-${zone + 1}`,
    microservice: ms.name,
    instanceName: `${hostId}.amazonaws.com`,
    instanceType: type.name,
    osVersion: pick(rng, OS_VERSIONS),
    process: pick(rng, ms.processes),
    jdkVersion: pick(rng, JDK_VERSIONS),
    serialNumber,
    serverModel: server.model,
    location: loc.id,
    idleWatts: server.idleWatts,
    maxWatts: server.maxWatts,
    ambientCelsius: loc.ambientCelsius,
    vcpus: type.vcpus,
    memoryTotalBytes: type.memoryGibibytes * 2 ** 30,
    diskBaseGigabytes: 50 + rng.int(401),
    baseProcesses: 120 + rng.int(200),
    cpuProfile: rng.next() < options.highCpuFraction ? 'high' : 'low',
  };
}

/**
 * Builds the fleet: enumerates the topology (regions → cells → silos → microservices →
 * instances) at the host scale, keeps what the filters include, picks `hosts` of them evenly
 * when asked for fewer, and draws each host's attributes. Throws {@link InvalidOptionsError}
 * for bad options.
 */
export function buildFleet(raw: FleetOptions = {}): Fleet {
  const options = resolveFleetOptions(raw);
  const perScale = slotCount(options, 1);
  if (perScale === 0) {
    throw new InvalidOptionsError('includeMicroservices', 'the filters include no instance');
  }
  const scale =
    options.hosts === undefined
      ? options.hostScale
      : Math.max(options.hostScale, Math.ceil(options.hosts / perScale));
  if (scale > 10_000) {
    throw new InvalidOptionsError('hosts', `hosts ${options.hosts} needs a host scale above 10000`);
  }
  const slots = enumerateSlots(options, scale);
  const wanted = options.hosts ?? slots.length;
  const serials = new Set<string>();
  const hosts: VirtualHostSpec[] = [];
  for (let i = 0; i < wanted; i++) {
    // An even spread: the i-th of `wanted` equal strides over the topology.
    const slot = slots[Math.floor((i * slots.length) / wanted)]!;
    hosts.push(hostOf(slot, i, options, serials));
  }
  const distinct = (f: (h: VirtualHostSpec) => string): number => new Set(hosts.map(f)).size;
  return {
    options,
    hostScale: scale,
    hosts,
    dimensions: {
      regions: distinct((h) => h.region),
      cells: distinct((h) => h.cell),
      silos: distinct((h) => h.silo),
      availabilityZones: distinct((h) => h.availabilityZone),
      microservices: distinct((h) => h.microservice),
      instanceTypes: distinct((h) => h.instanceType),
      serverModels: distinct((h) => h.serverModel),
      locations: distinct((h) => h.location),
    },
  };
}

/** The selector labels of a virtual host, as a spec's `targets.selector` matches them. */
export function virtualHostLabels(host: VirtualHostSpec): Record<string, string> {
  return {
    simulated: 'true',
    region: host.region,
    cell: host.cell,
    silo: host.silo,
    availability_zone: host.availabilityZone,
    microservice_name: host.microservice,
    instance_type: host.instanceType,
    os_version: host.osVersion,
    server_model: host.serverModel,
    location: host.location,
    cpu_profile: host.cpuProfile,
  };
}

/**
 * The virtual hosts as agents, for the plan compiler: each host is a target of its own (agent
 * id = host id), so `compilePlans(spec, virtualAgentInfos(fleet), …)` makes one plan per
 * virtual host that the simulator can run.
 */
export function virtualAgentInfos(fleet: Fleet, version = ''): AgentInfo[] {
  return fleet.hosts.map((h) => ({
    agentId: h.hostId,
    hostname: h.instanceName,
    labels: virtualHostLabels(h),
    caps: undefined,
    version,
    cpuCount: h.vcpus,
    memoryTotalBytes: BigInt(h.memoryTotalBytes),
    hostIds: [h.hostId],
  }));
}
