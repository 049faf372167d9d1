/**
 * The fixed tables the simulated fleet is built from: the DevOps topology of regions, cells,
 * silos and microservices (as the Timestream continuous generator lays it out: up to 7
 * regions with 1–15 cells of 1–3 silos, 101 silos in all, 10 instances per silo spread over
 * 5 microservices), the instance types, and the server inventory of the power generator
 * (server models with idle and maximum watts, data-center locations).
 *
 * The wattages and locations are illustrative figures of the right order for the server
 * class, not vendor data.
 */

/** A region with its cells; every cell of a region has the same number of silos. */
export interface RegionDefinition {
  readonly name: string;
  readonly cells: number;
  readonly silosPerCell: number;
  /** Data centers of the region; a host's location follows its availability zone. */
  readonly locations: readonly string[];
}

/** The 7 regions: 101 silos in all. `eu-central-1` has one cell with one silo. */
export const REGIONS: readonly RegionDefinition[] = [
  { name: 'us-east-1', cells: 15, silosPerCell: 3, locations: ['ashburn-1', 'ashburn-2', 'manassas-1'] },
  { name: 'us-west-2', cells: 8, silosPerCell: 2, locations: ['boardman-1', 'hillsboro-1'] },
  { name: 'eu-west-1', cells: 6, silosPerCell: 3, locations: ['dublin-1', 'dublin-2'] },
  { name: 'eu-central-1', cells: 1, silosPerCell: 1, locations: ['frankfurt-1'] },
  { name: 'ap-northeast-1', cells: 5, silosPerCell: 2, locations: ['tokyo-1', 'osaka-1'] },
  { name: 'ap-southeast-2', cells: 4, silosPerCell: 2, locations: ['sydney-1'] },
  { name: 'sa-east-1', cells: 3, silosPerCell: 1, locations: ['sao-paulo-1'] },
];

/** A data center: where a server stands, and the inlet air temperature its model starts from. */
export interface LocationDefinition {
  readonly id: string;
  readonly city: string;
  readonly country: string;
  /** Inlet (cold aisle) air temperature, °C. */
  readonly ambientCelsius: number;
}

export const LOCATIONS: readonly LocationDefinition[] = [
  { id: 'ashburn-1', city: 'Ashburn', country: 'US', ambientCelsius: 22 },
  { id: 'ashburn-2', city: 'Ashburn', country: 'US', ambientCelsius: 23 },
  { id: 'manassas-1', city: 'Manassas', country: 'US', ambientCelsius: 21 },
  { id: 'boardman-1', city: 'Boardman', country: 'US', ambientCelsius: 19 },
  { id: 'hillsboro-1', city: 'Hillsboro', country: 'US', ambientCelsius: 20 },
  { id: 'dublin-1', city: 'Dublin', country: 'IE', ambientCelsius: 18 },
  { id: 'dublin-2', city: 'Dublin', country: 'IE', ambientCelsius: 18 },
  { id: 'frankfurt-1', city: 'Frankfurt', country: 'DE', ambientCelsius: 21 },
  { id: 'tokyo-1', city: 'Tokyo', country: 'JP', ambientCelsius: 24 },
  { id: 'osaka-1', city: 'Osaka', country: 'JP', ambientCelsius: 24 },
  { id: 'sydney-1', city: 'Sydney', country: 'AU', ambientCelsius: 23 },
  { id: 'sao-paulo-1', city: 'São Paulo', country: 'BR', ambientCelsius: 25 },
];

/** A microservice: how many instances it has per silo (at host scale 1) and what they run on. */
export interface MicroserviceDefinition {
  readonly name: string;
  readonly instancesPerSilo: number;
  /** Instance types its instances are drawn from. */
  readonly instanceTypes: readonly string[];
  /** Names of the process that emits its events (the event dimension `process`). */
  readonly processes: readonly string[];
}

/** 10 instances per silo across the 5 microservices; `athena` has exactly one. */
export const MICROSERVICES: readonly MicroserviceDefinition[] = [
  {
    name: 'apollo',
    instancesPerSilo: 3,
    instanceTypes: ['r5.4xlarge', 'm5.8xlarge'],
    processes: ['host_manager', 'server'],
  },
  { name: 'athena', instancesPerSilo: 1, instanceTypes: ['c5.16xlarge'], processes: ['query_engine'] },
  {
    name: 'demeter',
    instancesPerSilo: 2,
    instanceTypes: ['m5.2xlarge', 'c5.4xlarge'],
    processes: ['host_manager', 'worker'],
  },
  {
    name: 'hercules',
    instancesPerSilo: 2,
    instanceTypes: ['r5.2xlarge', 'm5.4xlarge'],
    processes: ['server', 'cache'],
  },
  {
    name: 'zeus',
    instancesPerSilo: 2,
    instanceTypes: ['c5.2xlarge', 'm5.2xlarge'],
    processes: ['host_manager', 'scheduler'],
  },
];

/** An instance type: its size, and the server models it can run on. */
export interface InstanceTypeDefinition {
  readonly name: string;
  readonly vcpus: number;
  readonly memoryGibibytes: number;
  readonly serverModels: readonly string[];
}

export const INSTANCE_TYPES: readonly InstanceTypeDefinition[] = [
  { name: 'r5.2xlarge', vcpus: 8, memoryGibibytes: 64, serverModels: ['DL360-G10', 'DL380-G10'] },
  { name: 'r5.4xlarge', vcpus: 16, memoryGibibytes: 128, serverModels: ['DL380-G10', 'DL560-G10'] },
  { name: 'm5.2xlarge', vcpus: 8, memoryGibibytes: 32, serverModels: ['DL20-G10', 'DL325-G10P'] },
  { name: 'm5.4xlarge', vcpus: 16, memoryGibibytes: 64, serverModels: ['DL325-G10P', 'DL360-G10'] },
  { name: 'm5.8xlarge', vcpus: 32, memoryGibibytes: 128, serverModels: ['DL385-G10P', 'DL380-G10'] },
  { name: 'c5.2xlarge', vcpus: 8, memoryGibibytes: 16, serverModels: ['DL20-G10', 'XL170R-G10'] },
  { name: 'c5.4xlarge', vcpus: 16, memoryGibibytes: 32, serverModels: ['XL170R-G10', 'DL325-G10P'] },
  { name: 'c5.16xlarge', vcpus: 64, memoryGibibytes: 128, serverModels: ['DL385-G10P', 'DL560-G10'] },
];

/** A server model of the inventory with its power envelope. */
export interface ServerModelDefinition {
  readonly model: string;
  readonly description: string;
  /** Power drawn idle, W. */
  readonly idleWatts: number;
  /** Power drawn at full load, W (> idleWatts). */
  readonly maxWatts: number;
}

export const SERVER_MODELS: readonly ServerModelDefinition[] = [
  { model: 'DL20-G10', description: '1U 1-socket entry server', idleWatts: 38, maxWatts: 290 },
  { model: 'DL325-G10P', description: '1U 1-socket high-core server', idleWatts: 95, maxWatts: 500 },
  { model: 'DL360-G10', description: '1U 2-socket general-purpose server', idleWatts: 110, maxWatts: 600 },
  { model: 'DL380-G10', description: '2U 2-socket general-purpose server', idleWatts: 125, maxWatts: 800 },
  { model: 'DL385-G10P', description: '2U 2-socket high-core server', idleWatts: 150, maxWatts: 900 },
  { model: 'DL560-G10', description: '2U 4-socket scale-up server', idleWatts: 230, maxWatts: 1600 },
  { model: 'XL170R-G10', description: '1U half-width density node', idleWatts: 70, maxWatts: 420 },
];

/** Operating systems (the metric dimension `os_version`). */
export const OS_VERSIONS: readonly string[] = ['AL2', 'AL2012', 'AL2023'];

/** JDKs (the event dimension `jdk_version`). */
export const JDK_VERSIONS: readonly string[] = ['JDK_8', 'JDK_11', 'JDK_17'];

/** Silos in the whole topology (all regions). */
export const TOTAL_SILOS = REGIONS.reduce((n, r) => n + r.cells * r.silosPerCell, 0);

/** Instances per silo at host scale 1 (all microservices). */
export const INSTANCES_PER_SILO = MICROSERVICES.reduce((n, m) => n + m.instancesPerSilo, 0);

export function findInstanceType(name: string): InstanceTypeDefinition {
  const found = INSTANCE_TYPES.find((t) => t.name === name);
  if (!found) throw new RangeError(`unknown instance type ${name}`);
  return found;
}

export function findServerModel(model: string): ServerModelDefinition {
  const found = SERVER_MODELS.find((s) => s.model === model);
  if (!found) throw new RangeError(`unknown server model ${model}`);
  return found;
}

export function findLocation(id: string): LocationDefinition {
  const found = LOCATIONS.find((l) => l.id === id);
  if (!found) throw new RangeError(`unknown location ${id}`);
  return found;
}
