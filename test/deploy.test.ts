// The deployment files under deploy/ checked against the code they deploy: the flags and
// environment variables the manifests pass exist in the binaries (and their values pass the
// binaries' own validation), ports match the code's defaults, the agent gets the host's
// /proc and /sys read-only, the dashboard queries only metrics the code defines, and the
// scripts the images carry (agent identity, health probe) do what the manifests rely on.
// The Helm chart is rendered by ./helm-template.ts (Go templates with Helm's objects and the
// sprig functions the chart uses: no helm binary needed) and checked as manifests; kustomize
// builds run when kubectl is installed, and the security component's patches are checked
// as they are otherwise.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AGENT_NODE_FLAGS,
  AgentMetrics,
  agentOptionsFrom,
  controlSecurityFrom,
  parseDurationMs,
  resolveAgentOptions,
  type CommonAgentFlags,
} from '@faultline/agent';
import {
  CONTROL_PLANE_SECURITY_ENV,
  parseControllerConfig,
  resolveControllerOptions,
  resolveDevStackOptions,
  runCli,
} from '@faultline/controller';
import {
  NATS_SECRET_ENV,
  NATS_SECURITY_ENV,
  natsAuthFromFlags,
  resolveNatsAuthOptions,
  withoutNatsSecurityEnv,
} from '@faultline/protocol';
import { makeTestCertificates, tempDir } from '@faultline/testkit';
import { describe, expect, it } from 'vitest';
import { mergeValues, renderChart } from './helm-template.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const deployDir = join(root, 'deploy');
const chartDir = join(deployDir, 'helm', 'faultline');
const baseDir = join(deployDir, 'kustomize', 'base');

// `yaml` is a dependency of @faultline/spec, not of this package: load it from there.
interface YamlDocument {
  errors: unknown[];
  toJS(): unknown;
}
interface YamlModule {
  parseAllDocuments(text: string): YamlDocument[] | { errors: unknown[] };
  parse(text: string): unknown;
}
const yaml = createRequire(join(root, 'packages', 'spec', 'package.json'))('yaml') as YamlModule;

function read(path: string): string {
  return readFileSync(path, 'utf8');
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Every document of a YAML file as plain data; a syntax error fails with the file's name. */
function yamlDocuments(path: string): unknown[] {
  const docs = yaml.parseAllDocuments(read(path));
  if (!Array.isArray(docs)) throw new Error(`${relative(root, path)}: ${docs.errors.map(String).join('; ')}`);
  const errors = docs.flatMap((d) => d.errors);
  if (errors.length > 0) throw new Error(`${relative(root, path)}: ${errors.map(String).join('; ')}`);
  return docs.map((d) => d.toJS()).filter((d) => d !== null && d !== undefined);
}

// The parts of Kubernetes objects these tests read.
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    configMapKeyRef?: { name: string; key: string };
    secretKeyRef?: { name: string; key: string };
  };
}
interface Probe {
  exec?: { command: string[] };
  httpGet?: { path: string; port: number | string };
  grpc?: { port: number };
  tcpSocket?: { port: number | string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    privileged?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  emptyDir?: object;
  projected?: object;
  secret?: { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] };
  csi?: { driver: string; readOnly?: boolean; volumeAttributes?: Record<string, string> };
}
interface PodSpec {
  hostPID?: boolean;
  hostNetwork?: boolean;
  automountServiceAccountToken?: boolean;
  serviceAccountName?: string;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number };
  initContainers?: Container[];
  containers: Container[];
  volumes?: Volume[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: {
    template?: { spec: PodSpec };
    ports?: { name: string; port: number; targetPort: number | string }[];
  };
}

function isK8sObject(doc: unknown): doc is K8sObject {
  const d = doc as Partial<K8sObject> | null;
  return (
    typeof d?.apiVersion === 'string' && typeof d.kind === 'string' && typeof d.metadata?.name === 'string'
  );
}

function manifests(paths: string[]): K8sObject[] {
  return paths.flatMap((p) =>
    yamlDocuments(p).map((doc) => {
      if (!isK8sObject(doc)) throw new Error(`${relative(root, p)}: a document without apiVersion/kind/name`);
      return doc;
    }),
  );
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o;
}

function podSpec(o: K8sObject): PodSpec {
  const spec = o.spec?.template?.spec;
  if (!spec) throw new Error(`${o.kind} ${o.metadata.name} has no pod template`);
  return spec;
}

function container(o: K8sObject, name: string): Container {
  const c = podSpec(o).containers.find((x) => x.name === name);
  if (!c) throw new Error(`${o.kind} ${o.metadata.name} has no container ${name}`);
  return c;
}

function envOf(c: Container, name: string): EnvVar | undefined {
  return c.env?.find((e) => e.name === name);
}

/** `--flag value` pairs of an argument list (a flag followed by another flag has no value). */
function flagValues(args: string[]): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!/^--[a-z]/.test(arg)) continue;
    const eq = arg.indexOf('=');
    if (eq > 0) out.set(arg.slice(0, eq), arg.slice(eq + 1));
    else {
      const next = args[i + 1];
      out.set(arg, next !== undefined && !next.startsWith('--') ? next : undefined);
    }
  }
  return out;
}

/** The non-test TypeScript sources of a package, concatenated. */
function packageSource(pkg: string): string {
  return filesUnder(join(root, 'packages', pkg, 'src'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map(read)
    .join('\n');
}

type Binary = 'agent' | 'controller' | 'detector';

/** The long flags each binary defines, read from where it defines them. */
function binaryFlags(): Record<Binary, Set<string>> {
  const commanderFlags = (...files: string[]): Set<string> =>
    new Set(
      files.flatMap((f) =>
        [...read(join(root, f)).matchAll(/\.(?:option|requiredOption)\(\s*'(--[a-z][a-z0-9-]*)/g)].map(
          (m) => m[1] as string,
        ),
      ),
    );
  // The detector parses with node:util parseArgs from a FLAGS table: `name: 'ENV'` entries.
  const detectorConfig = read(join(root, 'packages/detector/src/config.ts'));
  const table = /const FLAGS = \{([\s\S]*?)\} as const;/.exec(detectorConfig)?.[1] ?? '';
  const detector = new Set(
    [...table.matchAll(/^\s*'?([a-z][a-z0-9-]*)'?:\s*'FAULTLINE_/gm)].map((m) => `--${m[1] as string}`),
  );
  return {
    agent: commanderFlags('packages/agent/src/config.ts', 'packages/agent/src/bin/faultline-agent.ts'),
    controller: commanderFlags('packages/controller/src/config.ts'),
    detector,
  };
}

/** Default port of the detector's /metrics, from its configuration. */
function detectorDefaultMetricsPort(): number {
  const m = /num\('metrics-port'\) \?\? (\d+)/.exec(read(join(root, 'packages/detector/src/config.ts')));
  if (!m) throw new Error('packages/detector/src/config.ts: no default for --metrics-port');
  return Number(m[1]);
}

/** Flags an agent container passes, as CommonAgentFlags (what commander would hand agentOptionsFrom). */
function agentFlagsFrom(args: string[]): CommonAgentFlags & { controller?: string; deadManTimeout?: number } {
  const f = flagValues(args);
  const num = (flag: string): number | undefined => (f.has(flag) ? Number(f.get(flag)) : undefined);
  const dur = (flag: string): number | undefined => {
    const v = f.get(flag);
    return v === undefined ? undefined : parseDurationMs(flag)(v);
  };
  return {
    controller: f.get('--controller'),
    dataDir: f.get('--data-dir'),
    metricsPort: num('--metrics-port'),
    interval: dur('--interval'),
    deadManTimeout: dur('--dead-man-timeout'),
    maxSpoolBytes: num('--max-spool-bytes'),
    maxMemoryFraction: num('--max-memory-fraction'),
    maxCores: num('--max-cores'),
    maxDuration: dur('--max-duration'),
    allowedKinds: f.get('--allowed-kinds'),
    maxConcurrentInjections: num('--max-concurrent-injections'),
  };
}

/** A one-core, 1 GiB node: caps that pass here pass on any node. */
const SMALLEST_NODE = { memTotalBytes: 2 ** 30, cpuCount: 1 };

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A stand-in for the API server: answers GET /api/v1/nodes/<name> from `nodes`. */
async function fakeApiServer(
  nodes: Record<string, Record<string, string>>,
  status = 200,
): Promise<{ url: string; requests: IncomingMessage[]; [Symbol.asyncDispose](): Promise<void> }> {
  const requests: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req);
    const name = decodeURIComponent(/^\/api\/v1\/nodes\/([^/?]+)$/.exec(req.url ?? '')?.[1] ?? '');
    const labels = nodes[name];
    if (status !== 200 || labels === undefined) {
      res.writeHead(status === 200 ? 404 : status).end('{"kind":"Status"}');
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ kind: 'Node', metadata: { name, labels } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const identityScript = join(deployDir, 'docker', 'agent-identity.mjs');
const healthScript = join(deployDir, 'docker', 'healthcheck.mjs');

const baseObjects = (): K8sObject[] =>
  manifests(filesUnder(baseDir).filter((f) => f.endsWith('.yaml') && !f.endsWith('kustomization.yaml')));

/** The objects of manifest text (a rendered template, a kustomize build); a YAML error names `what`. */
function manifestsOf(text: string, what: string): K8sObject[] {
  const docs = yaml.parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new Error(`${what}: ${docs.errors.map(String).join('; ')}`);
  const errors = docs.flatMap((d) => d.errors);
  if (errors.length > 0) throw new Error(`${what}: ${errors.map(String).join('; ')}`);
  return docs
    .map((d) => d.toJS())
    .filter((d) => d !== null && d !== undefined)
    .map((d) => {
      if (!isK8sObject(d)) throw new Error(`${what}: a document without apiVersion/kind/name`);
      return d;
    });
}

/** The chart rendered as `helm template faultline -n faultline` would, with `values` over its defaults. */
function helmObjects(values: Record<string, unknown> = {}): K8sObject[] {
  return [...renderChart(chartDir, { values })]
    .filter(([f]) => f.endsWith('.yaml'))
    .flatMap(([f, text]) => manifestsOf(text, f));
}

const envReaders = new Map<Binary, string>();
/**
 * Whether a binary reads a FAULTLINE_ variable: its own sources name it, or it is one of the
 * NATS security variables that every binary takes (NATS_AUTH_FLAGS in @faultline/protocol).
 */
function readsEnv(bin: Binary, name: string): boolean {
  if (NATS_SECURITY_ENV.includes(name)) return true;
  let source = envReaders.get(bin);
  if (source === undefined) {
    source = packageSource(bin);
    envReaders.set(bin, source);
  }
  return source.includes(name);
}

/** The three workloads: binary, kind, object name and container name (the binary's). */
const WORKLOADS: [Binary, string, string][] = [
  ['agent', 'DaemonSet', 'faultline-agent'],
  ['controller', 'Deployment', 'faultline-controller'],
  ['detector', 'Deployment', 'faultline-detector'],
];

/**
 * Where the file (or, for a `*_DIR` variable, the directory) that an environment variable of
 * `c` names comes from: `secret/<name>/<key>`, `secret/<name>` for a whole Secret,
 * `hostPath/<path>` or `csi/<driver>/<file>`. The mount over it must be read-only, and a
 * Secret mounted with `items` must project that file.
 */
function sourceOf(pod: PodSpec, c: Container, envName: string): string {
  const path = envOf(c, envName)?.value;
  if (path === undefined) throw new Error(`${c.name} sets no ${envName}`);
  const isDir = envName.endsWith('_DIR');
  const mount = (c.volumeMounts ?? []).find((m) =>
    isDir ? m.mountPath === path : path.startsWith(`${m.mountPath}/`),
  );
  if (!mount) throw new Error(`${c.name}: ${envName}=${path}, and nothing is mounted there`);
  expect(mount.readOnly, `${c.name}: ${mount.mountPath} read-only`).toBe(true);
  const volume = pod.volumes?.find((v) => v.name === mount.name);
  if (!volume) throw new Error(`${c.name}: no volume ${mount.name}`);
  const file = isDir ? '' : path.slice(mount.mountPath.length + 1);
  const suffix = file === '' ? '' : `/${file}`;
  if (volume.secret) {
    const items = volume.secret.items;
    if (items && !isDir) {
      const item = items.find((i) => i.path === file);
      expect(item, `${c.name}: ${path} is projected from ${volume.secret.secretName}`).toBeDefined();
      return `secret/${volume.secret.secretName}/${item?.key ?? ''}`;
    }
    expect(items, `${c.name}: ${path} is a whole Secret`).toBeUndefined();
    return `secret/${volume.secret.secretName}${suffix}`;
  }
  if (volume.hostPath) return `hostPath/${volume.hostPath.path}${suffix}`;
  if (volume.csi) return `csi/${volume.csi.driver}${suffix}`;
  throw new Error(`${c.name}: ${path} is on volume ${volume.name}, which holds no credentials`);
}

/** The Secrets a pod mounts, sorted. */
function secretsOf(pod: PodSpec): string[] {
  return (pod.volumes ?? []).flatMap((v) => (v.secret ? [v.secret.secretName] : [])).sort();
}

/**
 * What must hold of every workload, secured or not: Secrets are mounted read-only, keys and
 * tokens 0440 and CAs 0444 to the pod's fsGroup; FAULTLINE_ variables are read by the
 * binary, AGENT_* ones by the agent's wrapper; a variable naming a file under
 * /etc/faultline points into a read-only mount of a volume that holds it; no secret is a
 * literal value.
 */
function checkSecurityWiring(objects: K8sObject[], what: string): void {
  for (const [bin, kind, name] of WORKLOADS) {
    const o = find(objects, kind, name);
    const pod = podSpec(o);
    const c = container(o, bin);
    for (const v of pod.volumes ?? []) {
      if (!v.secret) continue;
      const items = v.secret.items ?? [];
      const caOnly = items.length > 0 && items.every((i) => /(^|\.)ca\.crt$/.test(i.key));
      expect(v.secret.defaultMode, `${what}: ${name} volume ${v.name} mode`).toBe(caOnly ? 0o444 : 0o440);
      expect(pod.securityContext?.fsGroup, `${what}: ${name} fsGroup`).toBe(10001);
      for (const cc of [...(pod.initContainers ?? []), ...pod.containers]) {
        for (const m of cc.volumeMounts ?? [])
          if (m.name === v.name) expect(m.readOnly, `${what}: ${cc.name} ${m.mountPath}`).toBe(true);
      }
    }
    const script = c.command?.join('\n') ?? '';
    for (const e of c.env ?? []) {
      if (e.name.startsWith('FAULTLINE_'))
        expect(readsEnv(bin, e.name), `${what}: ${bin} reads ${e.name}`).toBe(true);
      else if (e.name.startsWith('AGENT_'))
        expect(script, `${what}: the wrapper reads ${e.name}`).toContain(`\${${e.name}`);
      if (e.value?.startsWith('/etc/faultline/')) sourceOf(pod, c, e.name);
    }
    for (const secretEnv of Object.values(NATS_SECRET_ENV))
      expect(envOf(c, secretEnv), `${what}: ${secretEnv}`).toBeUndefined();
  }
}

/** Text that holds no key, seed, token file or Secret object. */
function expectNoSecretMaterial(text: string, what: string): void {
  expect(text, what).not.toMatch(/-----BEGIN/);
  expect(text, `${what}: an nkey seed`).not.toMatch(/\bS[UACONX][A-Z2-7]{50,}/);
  expect(text, `${what}: a JWT`).not.toMatch(/\beyJ[\w-]{8,}\.[\w-]{8,}/);
  expect(text, `${what}: a Secret`).not.toMatch(/^kind:\s*["']?Secret["']?\s*$/m);
}

describe('deploy/ files', () => {
  it('all parse: YAML documents are manifests with apiVersion, kind and name, JSON is JSON', () => {
    const files = filesUnder(deployDir);
    const templates = join(chartDir, 'templates');
    let checked = 0;
    for (const f of files) {
      if (f.startsWith(templates)) continue; // Go templates, checked below
      if (f.endsWith('.json')) {
        expect(() => JSON.parse(read(f)) as unknown, relative(root, f)).not.toThrow();
        checked++;
      } else if (f.endsWith('.yaml') || f.endsWith('.yml')) {
        const docs = yamlDocuments(f);
        expect(docs.length, relative(root, f)).toBeGreaterThan(0);
        if (f.startsWith(join(deployDir, 'kustomize'))) {
          for (const d of docs)
            expect(isK8sObject(d) || /kustomization\.yaml$/.test(f), relative(root, f)).toBe(true);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(20);
  });

  it('hold no password or token literal and no Secret: credentials come from existing Secrets by name', () => {
    for (const f of [...filesUnder(deployDir), join(root, '.dockerignore')]) {
      const text = read(f);
      expect(text, relative(root, f)).not.toMatch(
        /\b(password|passwd|token|secret)[ \t]*:[ \t]*(?!\{\{)[^\s{]/i,
      );
      expect(text, relative(root, f)).not.toMatch(/^kind:\s*Secret\s*$/m);
      expect(text, relative(root, f)).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
      expect(text, relative(root, f)).not.toMatch(/(nats|redis|rediss|tls):\/\/[^\s/:@]*:[^\s/@]+@/);
    }
  });
});

describe('container images (deploy/docker/Dockerfile)', () => {
  const dockerfile = read(join(deployDir, 'docker', 'Dockerfile'));
  const stages = new Map<string, string>();
  for (const part of dockerfile.split(/^(?=FROM )/m).slice(1)) {
    const name = /^FROM \S+ AS (\S+)/.exec(part)?.[1];
    if (name) stages.set(name, part);
  }

  it('build from Node 24 with the pinned pnpm and the frozen lockfile', () => {
    expect(dockerfile).toMatch(/^ARG NODE_VERSION=24$/m);
    const pm = (JSON.parse(read(join(root, 'package.json'))) as { packageManager: string }).packageManager;
    expect(pm).toMatch(/^pnpm@/);
    expect(dockerfile).toContain(`ARG PNPM_VERSION=${pm.slice('pnpm@'.length)}\n`);
    const build = stages.get('build') ?? '';
    expect(build).toMatch(/^FROM node:\$\{NODE_VERSION\}-\S*slim AS build/);
    expect(build).toContain('pnpm fetch --frozen-lockfile');
    expect(build).toContain('pnpm install --frozen-lockfile --offline');
    expect(build).toContain('pnpm build');
    expect(build).toMatch(/deploy --prod/);
  });

  it('run each binary of its package under tini as a non-root user, with only dist and production dependencies', () => {
    const runtime = stages.get('runtime') ?? '';
    expect(runtime).toMatch(/^FROM node:\$\{NODE_VERSION\}-\S*slim AS runtime/);
    expect(runtime).toMatch(/^USER 10001:10001$/m);
    for (const pkg of ['agent', 'controller', 'detector'] as const) {
      const stage = stages.get(pkg);
      expect(stage, `target ${pkg}`).toBeDefined();
      expect(stage).toMatch(/^FROM runtime AS/);
      expect(stage).toContain(`COPY --from=build --chown=0:0 /out/${pkg} /app`);
      // The last USER of the stage is not root.
      const users = [...(stage ?? '').matchAll(/^USER (\S+)$/gm)].map((m) => m[1]);
      if (users.length > 0) expect(users.at(-1)).toBe('10001:10001');
      const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(stage ?? '')?.[1] ?? 'null') as string[];
      expect(entrypoint.slice(0, 4)).toEqual(['/usr/bin/tini', '-s', '--', 'node']);
      // The agent runs with the node flags it is measured with (bench/agent-overhead).
      const nodeFlags = pkg === 'agent' ? [...AGENT_NODE_FLAGS] : [];
      expect(entrypoint.slice(4, 4 + nodeFlags.length)).toEqual(nodeFlags);
      entrypoint.splice(4, nodeFlags.length);
      const bin = `faultline-${pkg}`;
      const pkgJson = JSON.parse(read(join(root, 'packages', pkg, 'package.json'))) as {
        bin: Record<string, string>;
        files: string[];
      };
      expect(pkgJson.files).toEqual(['dist']);
      expect(entrypoint[4]).toBe(join('/app', pkgJson.bin[bin] ?? `no bin ${bin}`));
    }
    for (const m of dockerfile.matchAll(/^COPY (?:--chmod=\S+ )?(deploy\/\S+) (deploy\/\S+) /gm)) {
      expect(existsSync(join(root, m[1] as string))).toBe(true);
      expect(existsSync(join(root, m[2] as string))).toBe(true);
    }
    expect(dockerfile).not.toMatch(/^(ENV|ARG) \S*(TOKEN|PASSWORD|SECRET|KEY)\S*/im);
  });

  it('expose the ports the manifests use', () => {
    const base = baseObjects();
    const ports = (kind: string, name: string, c: string): number[] =>
      (container(find(base, kind, name), c).ports ?? []).map((p) => p.containerPort).sort();
    const exposed = (stage: string): number[] =>
      (/^EXPOSE (.*)$/m.exec(stages.get(stage) ?? '')?.[1] ?? '').split(/\s+/).map(Number).sort();
    expect(exposed('agent')).toEqual(ports('DaemonSet', 'faultline-agent', 'agent'));
    expect(exposed('controller')).toEqual(ports('Deployment', 'faultline-controller', 'controller'));
    expect(exposed('detector')).toEqual(ports('Deployment', 'faultline-detector', 'detector'));
  });

  it('take a context without dependencies, outputs, VCS or credentials (.dockerignore)', () => {
    const lines = read(join(root, '.dockerignore'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const pattern of [
      '**/node_modules',
      '**/dist',
      '.git',
      '.faultline',
      '.env',
      '**/*.pem',
      '**/*.key',
    ]) {
      expect(lines).toContain(pattern);
    }
    // Whatever the Dockerfile copies from deploy/ is let back in.
    for (const m of dockerfile.matchAll(/\b(deploy\/docker\/[\w.-]+\.mjs)\b/g)) {
      expect(lines).toContain(`!${m[1] as string}`);
    }
  });
});

describe('kustomize base (deploy/kustomize/base)', () => {
  const base = baseObjects();
  const agentDs = find(base, 'DaemonSet', 'faultline-agent');
  const agentPod = podSpec(agentDs);
  const agent = container(agentDs, 'agent');
  const controller = container(find(base, 'Deployment', 'faultline-controller'), 'controller');
  const detector = container(find(base, 'Deployment', 'faultline-detector'), 'detector');

  it('lists every manifest of the directory in its kustomization', () => {
    const k = yaml.parse(read(join(baseDir, 'kustomization.yaml'))) as {
      resources: string[];
      configMapGenerator: { files?: string[] }[];
    };
    const onDisk = readdirSync(baseDir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...k.resources].sort()).toEqual(onDisk.sort());
    for (const f of k.configMapGenerator.flatMap((g) => g.files ?? []))
      expect(existsSync(join(baseDir, f))).toBe(true);
  });

  it("mounts the host's /proc and /sys read-only in the agent and points its proc and sys roots at them", () => {
    expect(agentPod.hostPID).toBe(true);
    const hostPathOf = (mountPath: string): string | undefined => {
      const mount = agent.volumeMounts?.find((m) => m.mountPath === mountPath);
      expect(mount?.readOnly, `${mountPath} read-only`).toBe(true);
      return agentPod.volumes?.find((v) => v.name === mount?.name)?.hostPath?.path;
    };
    expect(hostPathOf('/host/proc')).toBe('/proc');
    expect(hostPathOf('/host/sys')).toBe('/sys');
    expect(envOf(agent, 'FAULTLINE_PROC_ROOT')?.value).toBe('/host/proc');
    expect(envOf(agent, 'FAULTLINE_SYS_ROOT')?.value).toBe('/host/sys');
    // Every other host path is mounted read-only too: the agent writes only to its own volumes.
    for (const m of agent.volumeMounts ?? []) {
      if (agentPod.volumes?.find((v) => v.name === m.name)?.hostPath)
        expect(m.readOnly, m.mountPath).toBe(true);
    }
  });

  it('runs every container without privilege, as a non-root user, without an API token', () => {
    for (const o of base.filter((x) => x.spec?.template)) {
      const pod = podSpec(o);
      expect(pod.automountServiceAccountToken, o.metadata.name).toBe(false);
      expect(pod.securityContext?.runAsNonRoot, o.metadata.name).toBe(true);
      expect(pod.securityContext?.runAsUser, o.metadata.name).toBe(10001);
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        const sc = c.securityContext;
        expect(sc?.privileged ?? false, c.name).toBe(false);
        expect(sc?.allowPrivilegeEscalation, c.name).toBe(false);
        expect(sc?.readOnlyRootFilesystem, c.name).toBe(true);
        expect(sc?.capabilities?.drop, c.name).toEqual(['ALL']);
        expect(sc?.capabilities?.add ?? [], c.name).toEqual([]);
      }
    }
    for (const sa of base.filter((x) => x.kind === 'ServiceAccount')) {
      expect(
        (sa as K8sObject & { automountServiceAccountToken?: boolean }).automountServiceAccountToken,
      ).toBe(false);
    }
  });

  it('passes only flags the binaries define', () => {
    const defined = binaryFlags();
    expect(defined.agent.size).toBeGreaterThan(10);
    expect(defined.controller).toContain('--listen');
    expect(defined.detector).toContain('--replica-id');
    const used: [Binary, Container][] = [
      ['agent', agent],
      ['controller', controller],
      ['detector', detector],
    ];
    for (const [bin, c] of used) {
      for (const flag of flagValues(c.args ?? []).keys())
        expect(defined[bin], `${bin} ${flag}`).toContain(flag);
    }
  });

  it("passes values the binaries' own validation accepts, caps included, on the smallest node", () => {
    expect(agent.args?.[0]).toBe('serve');
    const flags = agentFlagsFrom(agent.args ?? []);
    const resolved = resolveAgentOptions(
      agentOptionsFrom(flags, { FAULTLINE_AGENT_ID: 'node-1', FAULTLINE_PROC_ROOT: '/host/proc' }),
      SMALLEST_NODE,
    );
    expect(resolved.procRoot).toBe('/host/proc');
    expect(resolved.caps.maxMemoryFraction).toBeGreaterThan(0);
    expect(resolved.caps.maxMemoryFraction).toBeLessThanOrEqual(0.5);
    expect(resolved.caps.maxDurationMs).toBeLessThanOrEqual(3_600_000);
    expect(flags.deadManTimeout).toBeGreaterThan(0);

    const controllerOptions = resolveControllerOptions(parseControllerConfig(controller.args ?? [], {}));
    expect(controllerOptions.listen).toBe('0.0.0.0:15051');

    const detectorArgs = flagValues(detector.args ?? []);
    expect(Number(detectorArgs.get('--partitions'))).toBe(controllerOptions.partitions);
    expect(Number(detectorArgs.get('--stream-replicas'))).toBeGreaterThanOrEqual(1);
  });

  it('sets only FAULTLINE_ environment variables the code reads', () => {
    const used: [Binary, Container][] = [
      ['agent', agent],
      ['controller', controller],
      ['detector', detector],
    ];
    for (const [bin, c] of used) {
      for (const e of c.env ?? []) {
        if (e.name.startsWith('FAULTLINE_'))
          expect(readsEnv(bin, e.name), `${bin} reads ${e.name}`).toBe(true);
      }
    }
    // The agent's wrapper exports what the agent reads.
    const script = agent.command?.join('\n') ?? '';
    for (const name of script.match(/FAULTLINE_[A-Z_]+/g) ?? [])
      expect(readsEnv('agent', name), `agent reads ${name}`).toBe(true);
    // The init container's settings are what agent-identity.mjs reads.
    const identityText = read(identityScript);
    for (const e of agentPod.initContainers?.[0]?.env ?? []) expect(identityText).toContain(e.name);
  });

  it('gives the detector replicas their pod names as ids and the agents their node names', () => {
    expect(envOf(detector, 'FAULTLINE_REPLICA_ID')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    const init = agentPod.initContainers?.find((c) => c.name === 'identity');
    expect(envOf(init as Container, 'NODE_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
  });

  it('uses the ports the code defaults to, in containers, probes and the Service', () => {
    const dev = resolveDevStackOptions({});
    const port = (c: Container, name: string): number | undefined =>
      c.ports?.find((p) => p.name === name)?.containerPort;
    const defaultGrpcPort = Number(resolveControllerOptions({}).listen.split(':')[1]);

    expect(port(controller, 'grpc')).toBe(defaultGrpcPort);
    expect(flagValues(controller.args ?? []).get('--listen')).toBe(`0.0.0.0:${defaultGrpcPort}`);
    expect(port(controller, 'metrics')).toBe(dev.controllerMetricsPort);
    expect(flagValues(controller.args ?? []).get('--metrics-port')).toBe(String(dev.controllerMetricsPort));
    expect(port(agent, 'metrics')).toBe(dev.agentMetricsPort);
    expect(flagValues(agent.args ?? []).get('--metrics-port')).toBe(String(dev.agentMetricsPort));
    expect(flagValues(agent.args ?? []).get('--controller')).toBe(`faultline-controller:${defaultGrpcPort}`);
    expect(port(detector, 'metrics')).toBe(detectorDefaultMetricsPort());
    expect(flagValues(detector.args ?? []).get('--metrics-port')).toBe(String(detectorDefaultMetricsPort()));

    // Probes: the exec probes ask the metrics port; httpGet probes name it.
    for (const c of [agent, controller, detector]) {
      const probes = [c.startupProbe, c.livenessProbe, c.readinessProbe].filter((p) => p !== undefined);
      expect(probes.length, c.name).toBeGreaterThan(0);
      for (const p of probes) {
        if (p.exec)
          expect(p.exec.command.slice(0, 3)).toEqual([
            'node',
            '/opt/faultline/healthcheck.mjs',
            String(port(c, 'metrics')),
          ]);
        else expect(p.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      }
    }
    const service = find(base, 'Service', 'faultline-controller');
    expect(service.spec?.ports?.map((p) => [p.name, p.port, p.targetPort])).toEqual([
      ['grpc', defaultGrpcPort, 'grpc'],
      ['metrics', dev.controllerMetricsPort, 'metrics'],
    ]);
  });

  it('builds with kubectl kustomize, base and dev overlay, with the overlay namespace and caps applied', async (ctx) => {
    const probe = await run('sh', ['-c', 'command -v kubectl'], {}).catch(() => ({ code: 1 }) as RunResult);
    if (probe.code !== 0) ctx.skip();
    for (const dir of ['base', 'overlays/dev']) {
      const r = await run('kubectl', ['kustomize', join(deployDir, 'kustomize', dir)], {});
      expect(r.code, r.stderr).toBe(0);
      const docs = yaml.parseAllDocuments(r.stdout);
      if (!Array.isArray(docs)) throw new Error('kubectl kustomize printed no documents');
      const objects = docs.map((d) => d.toJS()).filter(isK8sObject);
      const ds = find(objects, 'DaemonSet', 'faultline-agent');
      const c = container(ds, 'agent');
      // The generated endpoints ConfigMap (name with a hash) is the one the env refers to.
      const ref = envOf(c, 'FAULTLINE_NATS_URL')?.valueFrom?.configMapKeyRef?.name;
      expect(objects.some((o) => o.kind === 'ConfigMap' && o.metadata.name === ref)).toBe(true);
      if (dir === 'overlays/dev') {
        for (const o of objects.filter((x) => x.kind !== 'Namespace' && !x.kind.startsWith('Cluster'))) {
          expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe('faultline-dev');
        }
        expect(c.image).toBe('faultline-agent:dev');
        const caps = resolveAgentOptions(
          agentOptionsFrom(agentFlagsFrom(c.args ?? []), { FAULTLINE_AGENT_ID: 'node-1' }),
          SMALLEST_NODE,
        ).caps;
        expect(caps.maxMemoryFraction).toBe(0.1);
        expect(caps.maxConcurrentInjections).toBe(1);
        expect(caps.allowedKinds.length).toBe(6);
      }
    }
  });
});

describe('Helm chart (deploy/helm/faultline)', () => {
  const templatesDir = join(chartDir, 'templates');
  const templates = new Map(readdirSync(templatesDir).map((f) => [f, read(join(templatesDir, f))]));
  const values = yaml.parse(read(join(chartDir, 'values.yaml'))) as Record<string, unknown>;

  const valueAt = (path: string): unknown =>
    path
      .split('.')
      .reduce<unknown>(
        (o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined),
        values,
      );

  it('has a v2 Chart.yaml whose appVersion is the packages version', () => {
    const chart = yaml.parse(read(join(chartDir, 'Chart.yaml'))) as Record<string, string>;
    expect(chart.apiVersion).toBe('v2');
    expect(chart.name).toBe('faultline');
    const agentVersion = (JSON.parse(read(join(root, 'packages/agent/package.json'))) as { version: string })
      .version;
    expect(chart.appVersion).toBe(agentVersion);
  });

  it('references only values that values.yaml defines, and only helpers that its .tpl files define', () => {
    const refs = new Set<string>();
    for (const [file, text] of templates) {
      // `$a := .Values.agent` makes `$a.caps` mean `agent.caps`.
      // (Not `range $k, $v := .Values.x`, whose $v is an element.)
      const aliases = new Map(
        [...text.matchAll(/(?<!range |, )\$(\w+) := \.Values\.([\w.]+)/g)].map((m) => [m[1], m[2]]),
      );
      for (const m of text.matchAll(/(?:\$|\.root)?\.Values\.([A-Za-z][\w.]*)/g))
        refs.add(`${file}: ${m[1] as string}`);
      for (const m of text.matchAll(/\$(\w+)\.([A-Za-z][\w.]*)/g)) {
        const alias = aliases.get(m[1] as string);
        if (alias) refs.add(`${file}: ${alias}.${m[2] as string}`);
      }
    }
    expect(refs.size).toBeGreaterThan(40);
    for (const ref of refs) {
      const path = ref.split(': ')[1] as string;
      expect(valueAt(path), ref).not.toBeUndefined();
    }
    const helpers = [...templates].filter(([f]) => f.endsWith('.tpl')).map(([, text]) => text);
    expect(helpers.length).toBeGreaterThanOrEqual(2);
    const defined = new Set(
      helpers.flatMap((h) => [...h.matchAll(/\{\{-? define "([^"]+)"/g)].map((m) => m[1])),
    );
    for (const [file, text] of templates) {
      for (const m of text.matchAll(/include "([^"]+)"/g))
        expect(defined, `${file} includes ${m[1] as string}`).toContain(m[1]);
      // Every block is closed.
      const opened = (text.match(/\{\{-?\s*(if|range|with|define)\b/g) ?? []).length;
      const closed = (text.match(/\{\{-?\s*end\s*-?\}\}/g) ?? []).length;
      expect(closed, `${file}: {{ end }} count`).toBe(opened);
    }
  });

  it('passes only flags the binaries define', () => {
    const defined = binaryFlags();
    const byTemplate: [string, Binary][] = [
      ['agent-daemonset.yaml', 'agent'],
      ['controller-deployment.yaml', 'controller'],
      ['detector-deployment.yaml', 'detector'],
    ];
    for (const [file, bin] of byTemplate) {
      const flags = [...(templates.get(file) ?? '').matchAll(/^\s*- (--[a-z][a-z0-9-]*)\s*$/gm)].map(
        (m) => m[1],
      );
      expect(flags.length, file).toBeGreaterThan(3);
      for (const flag of flags) expect(defined[bin], `${file}: ${flag}`).toContain(flag);
    }
    for (const bin of ['agent', 'controller', 'detector'] as const) {
      for (const arg of (valueAt(`${bin}.extraArgs`) as string[]).filter((a) => a.startsWith('--'))) {
        expect(defined[bin]).toContain(arg.split('=')[0]);
      }
    }
  });

  it('mounts the host /proc and /sys read-only at /host/proc and /host/sys and sets the roots', () => {
    const ds = templates.get('agent-daemonset.yaml') ?? '';
    expect(ds).toMatch(/hostPID: true/);
    expect(ds).toMatch(/- name: host-proc\n\s+mountPath: \/host\/proc\n\s+readOnly: true/);
    expect(ds).toMatch(/- name: host-sys\n\s+mountPath: \/host\/sys\n\s+readOnly: true/);
    expect(ds).toMatch(/- name: host-proc\n\s+hostPath:\n\s+path: \/proc\n/);
    expect(ds).toMatch(/- name: host-sys\n\s+hostPath:\n\s+path: \/sys\n/);
    expect(ds).toMatch(/- name: FAULTLINE_PROC_ROOT\n\s+value: \/host\/proc\n/);
    expect(ds).toMatch(/- name: FAULTLINE_SYS_ROOT\n\s+value: \/host\/sys\n/);
    expect(ds).toMatch(/fieldPath: spec\.nodeName/);
    const detector = templates.get('detector-deployment.yaml') ?? '';
    expect(detector).toMatch(
      /- name: FAULTLINE_REPLICA_ID\n\s+valueFrom:\n\s+fieldRef:\n\s+fieldPath: metadata\.name/,
    );
  });

  it('reads NATS and Redis URLs from values or from an existing Secret by name, never inline credentials', () => {
    const helpers = templates.get('_helpers.tpl') ?? '';
    expect(helpers).toMatch(/secretKeyRef:\n\s+name: \{\{ \.Values\.nats\.urlSecret\.name \}\}/);
    expect(helpers).toMatch(/secretKeyRef:\n\s+name: \{\{ \.Values\.redis\.urlSecret\.name \}\}/);
    expect(valueAt('nats.urlSecret.name')).toBe('');
    expect(valueAt('redis.urlSecret.name')).toBe('');
  });

  it('defaults to what the kustomize base deploys', () => {
    const base = baseObjects();
    const args = (kind: string, name: string, c: string): Map<string, string | undefined> =>
      flagValues(container(find(base, kind, name), c).args ?? []);
    const agentArgs = args('DaemonSet', 'faultline-agent', 'agent');
    const expected: [string, string][] = [
      ['--metrics-port', 'agent.metricsPort'],
      ['--interval', 'agent.samplingInterval'],
      ['--dead-man-timeout', 'agent.deadManTimeout'],
      ['--max-spool-bytes', 'agent.maxSpoolBytes'],
      ['--max-memory-fraction', 'agent.caps.maxMemoryFraction'],
      ['--max-cores', 'agent.caps.maxCores'],
      ['--max-duration', 'agent.caps.maxDuration'],
      ['--max-concurrent-injections', 'agent.caps.maxConcurrentInjections'],
    ];
    for (const [flag, path] of expected) expect(agentArgs.get(flag), flag).toBe(String(valueAt(path)));
    expect(agentArgs.has('--allowed-kinds')).toBe(valueAt('agent.caps.allowedKinds') !== '');
    const controllerArgs = args('Deployment', 'faultline-controller', 'controller');
    expect(controllerArgs.get('--listen')).toBe(`0.0.0.0:${String(valueAt('controller.grpcPort'))}`);
    expect(controllerArgs.get('--metrics-port')).toBe(String(valueAt('controller.metricsPort')));
    expect(controllerArgs.get('--lease-ms')).toBe(String(valueAt('controller.leaseMs')));
    expect(controllerArgs.get('--partitions')).toBe(String(valueAt('partitions')));
    const detectorArgs = args('Deployment', 'faultline-detector', 'detector');
    expect(detectorArgs.get('--metrics-port')).toBe(String(valueAt('detector.metricsPort')));
    expect(detectorArgs.get('--group')).toBe(valueAt('detector.group'));
    expect(detectorArgs.get('--stream-replicas')).toBe(String(valueAt('detector.streamReplicas')));
    // The base's static and node labels are the chart's defaults, in the chart's (sorted) order.
    const pairs = (m: Record<string, string>): string =>
      Object.keys(m)
        .sort()
        .map((k) => `${k}=${m[k] as string}`)
        .join(',');
    const init = podSpec(find(base, 'DaemonSet', 'faultline-agent')).initContainers?.[0] as Container;
    expect(envOf(init, 'FAULTLINE_STATIC_LABELS')?.value).toBe(
      pairs(valueAt('agent.labels') as Record<string, string>),
    );
    expect(envOf(init, 'FAULTLINE_NODE_LABELS')?.value).toBe(
      pairs(valueAt('agent.nodeLabels.mapping') as Record<string, string>),
    );
    expect(find(base, 'Deployment', 'faultline-detector')).toMatchObject({
      spec: { replicas: valueAt('detector.replicas') },
    });
  });

  it('ships the dashboard of deploy/grafana unchanged, as the kustomize base does', () => {
    const dashboard = read(join(deployDir, 'grafana', 'faultline.json'));
    expect(templates.get('grafana-dashboard.yaml')).toContain('.Files.Get "dashboards/faultline.json"');
    expect(read(join(chartDir, 'dashboards', 'faultline.json'))).toBe(dashboard);
    expect(read(join(baseDir, 'faultline.json'))).toBe(dashboard);
  });
});

describe('Helm chart, rendered (test/helm-template.ts)', () => {
  /** Everything on but mTLS: TLS, both tokens, a NATS identity per role, TLS to NATS. */
  const SECURED = {
    tls: { enabled: true, secretName: 'fl-controller-tls', ca: { secretName: 'fl-controller-ca' } },
    auth: { tokenSecret: { name: 'fl-cli-tokens' }, agentTokenSecret: { name: 'fl-agent-tokens' } },
    nats: {
      tls: { caSecret: { name: 'fl-nats-ca' } },
      auth: {
        controller: { secretName: 'fl-nats-controller' },
        detector: { secretName: 'fl-nats-detector' },
        agent: { secretName: 'fl-nats-agents' },
      },
    },
  };
  /** mTLS with cert-manager csi-driver certificates for the agents (no per-agent NATS users then). */
  const MTLS_CSI = mergeValues(SECURED, {
    tls: {
      clientCA: { enabled: true },
      agentCertificates: { source: 'csi', csi: { issuerName: 'fl-agents' } },
    },
    nats: { auth: { agent: { secretName: '' } } },
  }) as Record<string, unknown>;
  /** mTLS and NATS seeds from each node's own directory. */
  const MTLS_HOST = mergeValues(SECURED, {
    tls: { clientCA: { enabled: true }, agentCertificates: { source: 'hostPath' } },
    nats: { auth: { agent: { secretName: '', hostPath: '/etc/faultline/nats-seed' } } },
  }) as Record<string, unknown>;
  const VARIANTS: [string, Record<string, unknown>][] = [
    ['defaults', {}],
    ['secured', SECURED],
    ['mTLS with csi-driver', MTLS_CSI],
    ['mTLS with host paths', MTLS_HOST],
  ];
  const parts = (objects: K8sObject[], bin: Binary): { pod: PodSpec; c: Container } => {
    const [, kind, name] = WORKLOADS.find((w) => w[0] === bin) as [Binary, string, string];
    const o = find(objects, kind, name);
    return { pod: podSpec(o), c: container(o, bin) };
  };
  const envValues = (c: Container): Record<string, string> =>
    Object.fromEntries((c.env ?? []).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])));
  /** The controller's options from a container's args and env; the NATS files, which it reads, apart. */
  const controllerOptionsOf = (c: Container): ReturnType<typeof resolveControllerOptions> =>
    resolveControllerOptions(parseControllerConfig(c.args ?? [], withoutNatsSecurityEnv(envValues(c))));
  const securityEnv = [...CONTROL_PLANE_SECURITY_ENV, ...NATS_SECURITY_ENV];

  it('renders the defaults to the objects of the kustomize base', () => {
    const helm = helmObjects();
    const base = baseObjects();
    for (const [bin, kind, name] of WORKLOADS) {
      const h = find(helm, kind, name);
      const b = find(base, kind, name);
      const [hc, bc] = [container(h, bin), container(b, bin)];
      // The agent's wrapper script, probes, mounts and volumes are the same text.
      expect(hc.command, name).toEqual(bc.command);
      const args = (c: Container): string[] =>
        (c.args ?? []).map((a, i, all) => (all[i - 1] === '--controller' ? 'CONTROLLER' : a));
      expect(args(hc), name).toEqual(args(bc));
      expect(
        hc.env?.map((e) => e.name),
        name,
      ).toEqual(bc.env?.map((e) => e.name));
      for (const p of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const)
        expect(hc[p], `${name} ${p}`).toEqual(bc[p]);
      expect(hc.volumeMounts, name).toEqual(bc.volumeMounts);
      expect(hc.securityContext, name).toEqual(bc.securityContext);
      expect(podSpec(h).volumes, name).toEqual(podSpec(b).volumes);
      expect(podSpec(h).securityContext, name).toEqual(podSpec(b).securityContext);
    }
  });

  it('mounts no Secret and sets no security variable by default', () => {
    const helm = helmObjects();
    checkSecurityWiring(helm, 'defaults');
    for (const [bin] of WORKLOADS) {
      const { pod, c } = parts(helm, bin);
      expect(secretsOf(pod), bin).toEqual([]);
      expect(
        (pod.volumes ?? []).filter((v) => v.csi),
        bin,
      ).toEqual([]);
      for (const e of c.env ?? []) {
        expect(securityEnv, `${bin} ${e.name}`).not.toContain(e.name);
        expect(e.name, bin).not.toMatch(/^AGENT_/);
      }
    }
    expect(find(helm, 'Service', 'faultline-controller')).toBeDefined();
  });

  it('wires TLS, tokens and NATS credentials into each component from its own Secrets only', () => {
    const helm = helmObjects(SECURED);
    checkSecurityWiring(helm, 'secured');

    const ctl = parts(helm, 'controller');
    const src = (p: { pod: PodSpec; c: Container }, env: string): string => sourceOf(p.pod, p.c, env);
    expect(src(ctl, 'FAULTLINE_CONTROLLER_TLS_CERT')).toBe('secret/fl-controller-tls/tls.crt');
    expect(src(ctl, 'FAULTLINE_CONTROLLER_TLS_KEY')).toBe('secret/fl-controller-tls/tls.key');
    expect(src(ctl, 'FAULTLINE_CONTROLLER_TOKEN_FILE')).toBe('secret/fl-cli-tokens/tokens');
    expect(src(ctl, 'FAULTLINE_CONTROLLER_AGENT_TOKEN_FILE')).toBe('secret/fl-agent-tokens/tokens');
    expect(src(ctl, 'FAULTLINE_NATS_NKEY_FILE')).toBe('secret/fl-nats-controller/controller.nk');
    expect(src(ctl, 'FAULTLINE_NATS_CA')).toBe('secret/fl-nats-ca/ca.crt');
    expect(envOf(ctl.c, 'FAULTLINE_CONTROLLER_TLS_CLIENT_CA')).toBeUndefined();
    expect(secretsOf(ctl.pod)).toEqual([
      'fl-agent-tokens',
      'fl-cli-tokens',
      'fl-controller-tls',
      'fl-nats-ca',
      'fl-nats-controller',
    ]);
    // The controller's own validation accepts the combination (both services authenticated).
    const ctlOptions = controllerOptionsOf(ctl.c);
    expect(ctlOptions).toMatchObject({
      tlsCertFile: '/etc/faultline/tls/tls.crt',
      tlsKeyFile: '/etc/faultline/tls/tls.key',
      tokenFile: '/etc/faultline/cli-tokens/tokens',
      agentTokenFile: '/etc/faultline/agent-tokens/tokens',
    });
    expect(natsAuthFromFlags({}, envValues(ctl.c))).toMatchObject({
      nkeyFile: '/etc/faultline/nats/controller.nk',
      caFile: '/etc/faultline/nats-ca/ca.crt',
    });

    const det = parts(helm, 'detector');
    expect(src(det, 'FAULTLINE_NATS_NKEY_FILE')).toBe('secret/fl-nats-detector/detector.nk');
    expect(src(det, 'FAULTLINE_NATS_CA')).toBe('secret/fl-nats-ca/ca.crt');
    expect(secretsOf(det.pod)).toEqual(['fl-nats-ca', 'fl-nats-detector']);

    // Agents get the CA (not the controller's key Secret), the agent token, every agent's
    // seed as a directory their wrapper picks from, and the NATS CA.
    const ag = parts(helm, 'agent');
    expect(src(ag, 'FAULTLINE_AGENT_TLS_CA')).toBe('secret/fl-controller-ca/ca.crt');
    expect(src(ag, 'FAULTLINE_AGENT_TOKEN_FILE')).toBe('secret/fl-agent-tokens/tokens');
    expect(src(ag, 'AGENT_NATS_SEED_DIR')).toBe('secret/fl-nats-agents');
    expect(src(ag, 'FAULTLINE_NATS_CA')).toBe('secret/fl-nats-ca/ca.crt');
    expect(secretsOf(ag.pod)).toEqual([
      'fl-agent-tokens',
      'fl-controller-ca',
      'fl-nats-agents',
      'fl-nats-ca',
    ]);
    expect(envOf(ag.c, 'FAULTLINE_AGENT_TLS_CERT')).toBeUndefined();
    expect(envOf(ag.c, 'AGENT_ID_FROM_POD')).toBeUndefined();
    expect(controlSecurityFrom({}, envValues(ag.c))).toMatchObject({
      tlsCaFile: '/etc/faultline/controller-ca/ca.crt',
      tokenFile: '/etc/faultline/agent-token/tokens',
    });
    // The agent dials the Service name its certificate must carry.
    expect(flagValues(ag.c.args ?? []).get('--controller')).toBe('faultline-controller.faultline.svc:15051');

    // Without tls.ca, agents read ca.crt of the controller's Secret.
    const fallback = parts(
      helmObjects(mergeValues(SECURED, { tls: { ca: { secretName: '' } } }) as never),
      'agent',
    );
    expect(sourceOf(fallback.pod, fallback.c, 'FAULTLINE_AGENT_TLS_CA')).toBe(
      'secret/fl-controller-tls/ca.crt',
    );
    // Credentials in .creds files (nsc) go to FAULTLINE_NATS_CREDS.
    const creds = parts(
      helmObjects(
        mergeValues(SECURED, {
          nats: { auth: { detector: { format: 'creds', key: 'detector.creds' } } },
        }) as never,
      ),
      'detector',
    );
    expect(sourceOf(creds.pod, creds.c, 'FAULTLINE_NATS_CREDS')).toBe(
      'secret/fl-nats-detector/detector.creds',
    );
    expect(envOf(creds.c, 'FAULTLINE_NATS_NKEY_FILE')).toBeUndefined();
  });

  it('gives agents a csi-driver certificate named after the pod, and the pod name as agent id, with mTLS through csi', () => {
    const helm = helmObjects(MTLS_CSI);
    checkSecurityWiring(helm, 'mTLS csi');
    const ctl = parts(helm, 'controller');
    expect(sourceOf(ctl.pod, ctl.c, 'FAULTLINE_CONTROLLER_TLS_CLIENT_CA')).toBe(
      'secret/fl-controller-tls/ca.crt',
    );
    expect(controllerOptionsOf(ctl.c).tlsClientCaFile).toBe('/etc/faultline/client-ca/ca.crt');

    const ag = parts(helm, 'agent');
    expect(sourceOf(ag.pod, ag.c, 'FAULTLINE_AGENT_TLS_CERT')).toBe('csi/csi.cert-manager.io/tls.crt');
    expect(sourceOf(ag.pod, ag.c, 'FAULTLINE_AGENT_TLS_KEY')).toBe('csi/csi.cert-manager.io/tls.key');
    const csi = ag.pod.volumes?.find((v) => v.csi)?.csi;
    expect(csi?.readOnly).toBe(true);
    expect(csi?.volumeAttributes).toMatchObject({
      'csi.cert-manager.io/issuer-name': 'fl-agents',
      'csi.cert-manager.io/common-name': '${POD_NAME}',
      'csi.cert-manager.io/dns-names': '${POD_NAME}',
      'csi.cert-manager.io/fs-group': '10001',
    });
    expect(csi?.volumeAttributes?.['csi.cert-manager.io/key-usages']).toMatch(/\bclient auth\b/);
    expect(envOf(ag.c, 'AGENT_ID_FROM_POD')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(envOf(ag.c, 'AGENT_NATS_SEED_DIR')).toBeUndefined();
    expect(controlSecurityFrom({}, envValues(ag.c))).toMatchObject({
      tlsCertFile: '/etc/faultline/agent-tls/tls.crt',
      tlsKeyFile: '/etc/faultline/agent-tls/tls.key',
    });
  });

  it("mounts each node's own certificate and NATS seed directories read-only, with mTLS through host paths", () => {
    const helm = helmObjects(MTLS_HOST);
    checkSecurityWiring(helm, 'mTLS hostPath');
    const ag = parts(helm, 'agent');
    expect(sourceOf(ag.pod, ag.c, 'AGENT_TLS_DIR')).toBe('hostPath//etc/faultline/agent-tls');
    expect(sourceOf(ag.pod, ag.c, 'AGENT_NATS_SEED_DIR')).toBe('hostPath//etc/faultline/nats-seed');
    for (const v of ag.pod.volumes ?? [])
      if (v.name === 'agent-tls') expect(v.hostPath?.type).toBe('Directory');
    expect(envOf(ag.c, 'AGENT_ID_FROM_POD')).toBeUndefined();
    expect(secretsOf(ag.pod)).toEqual(['fl-agent-tokens', 'fl-controller-ca', 'fl-nats-ca']);
  });

  it('takes Secrets made as docs/deploy.md says, laid out as the kubelet mounts them, through the binaries’ own checks', async () => {
    await using dir = tempDir('faultline-secrets-');
    // What the operator makes: NATS users, certificates, tokens (docs/deploy.md, "Securing an install").
    const seeds = join(dir.path, 'nats-secrets');
    const io = { out: (): void => undefined, err: (): void => undefined, setExitCode: (): void => undefined };
    const args = ['nats-config', '--agents', 'node-a,node-b', '--secrets-dir', seeds];
    expect(await runCli([...args, '--out', join(dir.path, 'faultline-users.conf')], io)).toBe(0);
    const certs = await makeTestCertificates(join(dir.path, 'pki'), {
      serverNames: ['faultline-controller.faultline.svc'],
    });
    const token = (name: string): string => {
      const path = join(dir.path, name);
      writeFileSync(path, `${randomBytes(32).toString('hex')}\n`);
      return path;
    };
    // The Secrets, as `kubectl create secret` would hold them: name → key → file.
    const secrets: Record<string, Record<string, string>> = {
      'fl-controller-tls': {
        'tls.crt': certs.server.cert,
        'tls.key': certs.server.key,
        'ca.crt': certs.ca.cert,
      },
      'fl-controller-ca': { 'ca.crt': certs.ca.cert },
      'fl-cli-tokens': { tokens: token('cli.token') },
      'fl-agent-tokens': { tokens: token('agent.token') },
      'fl-nats-controller': { 'controller.nk': join(seeds, 'controller.nk') },
      'fl-nats-detector': { 'detector.nk': join(seeds, 'detector.nk') },
      'fl-nats-agents': {
        'node-a.nk': join(seeds, 'agents', 'node-a.nk'),
        'node-b.nk': join(seeds, 'agents', 'node-b.nk'),
      },
      'fl-nats-ca': { 'ca.crt': certs.ca.cert },
    };
    const helm = helmObjects(SECURED);
    /** The container's Secret volumes copied where it mounts them, under `<dir>/<bin>`; its env pointed there. */
    const mount = (bin: Binary): Record<string, string> => {
      const { pod, c } = parts(helm, bin);
      const rootDir = join(dir.path, bin);
      for (const m of c.volumeMounts ?? []) {
        const secret = pod.volumes?.find((v) => v.name === m.name)?.secret;
        if (!secret) continue;
        const data = secrets[secret.secretName];
        if (!data) throw new Error(`${bin} mounts Secret ${secret.secretName}, which the docs do not make`);
        const items = secret.items ?? Object.keys(data).map((key) => ({ key, path: key }));
        for (const { key, path } of items) {
          const from = data[key];
          if (!from) throw new Error(`${bin}: Secret ${secret.secretName} has no key ${key}`);
          const to = join(rootDir, m.mountPath, path);
          mkdirSync(dirname(to), { recursive: true });
          copyFileSync(from, to);
        }
      }
      return Object.fromEntries(
        Object.entries(envValues(c)).map(([k, v]) => [
          k,
          v.startsWith('/etc/faultline/') ? join(rootDir, v) : v,
        ]),
      );
    };
    const ctlEnv = mount('controller');
    const ctl = resolveControllerOptions(
      parseControllerConfig(parts(helm, 'controller').c.args ?? [], ctlEnv),
    );
    expect(ctl.natsAuth).toMatchObject({ method: 'nkey', tls: true, inboxPrefix: '_INBOX_controller' });
    for (const f of [ctl.tlsCertFile, ctl.tlsKeyFile, ctl.tokenFile, ctl.agentTokenFile])
      expect(existsSync(f ?? ''), f).toBe(true);
    const detEnv = mount('detector');
    expect(resolveNatsAuthOptions({ ...natsAuthFromFlags({}, detEnv), identity: 'detector' })).toMatchObject({
      method: 'nkey',
      tls: true,
    });
    // The agent on node-b: its wrapper would export <seed dir>/node-b.nk.
    const agentEnv = mount('agent');
    const seed = join(agentEnv.AGENT_NATS_SEED_DIR ?? '', 'node-b.nk');
    const agentNats = resolveNatsAuthOptions({
      ...natsAuthFromFlags({}, { ...agentEnv, FAULTLINE_NATS_NKEY_FILE: seed }),
      identity: 'node-b',
    });
    expect(agentNats).toMatchObject({ method: 'nkey', tls: true, inboxPrefix: '_INBOX_node-b' });
    const link = controlSecurityFrom({}, agentEnv);
    expect(readFileSync(link.tlsCaFile ?? '', 'utf8')).toBe(readFileSync(certs.ca.cert, 'utf8'));
    expect(readFileSync(link.tokenFile ?? '', 'utf8')).toBe(
      readFileSync(secrets['fl-agent-tokens']?.tokens ?? '', 'utf8'),
    );
  });

  it('probes the controller on /healthz of its plain-HTTP metrics port, never on gRPC, whatever the security', () => {
    for (const [what, values] of VARIANTS) {
      const helm = helmObjects(values);
      for (const [bin] of WORKLOADS) {
        const { c } = parts(helm, bin);
        const metrics = c.ports?.find((p) => p.name === 'metrics')?.containerPort;
        const probes = [c.startupProbe, c.livenessProbe, c.readinessProbe].filter((p) => p !== undefined);
        expect(probes.length, `${what} ${bin}`).toBeGreaterThan(0);
        for (const p of probes) {
          expect(p.grpc, `${what} ${bin}`).toBeUndefined();
          expect(p.tcpSocket, `${what} ${bin}`).toBeUndefined();
          if (p.exec)
            expect(p.exec.command.slice(0, 3)).toEqual([
              'node',
              '/opt/faultline/healthcheck.mjs',
              String(metrics),
            ]);
          else expect(p.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
        }
      }
      const { c } = parts(helm, 'controller');
      expect(c.livenessProbe?.exec?.command, what).toBeDefined();
      expect(c.readinessProbe?.exec?.command, what).toBeDefined();
    }
  });

  it('holds no key, seed, token or Secret in any rendered file, whatever the values', () => {
    for (const [what, values] of VARIANTS) {
      const rendered = renderChart(chartDir, { values });
      expect(rendered.get('NOTES.txt'), what).toMatch(/Controller \(gRPC\)/);
      for (const [file, text] of rendered) expectNoSecretMaterial(text, `${what}: ${file}`);
      expect(
        helmObjects(values).filter((o) => o.kind === 'Secret'),
        what,
      ).toEqual([]);
    }
  });

  it('refuses, by name, settings the binaries would refuse or that leave a component unable to connect', () => {
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ tls: { enabled: true } }, /tls\.enabled needs tls\.secretName/],
      [{ tls: { clientCA: { enabled: true } } }, /tls\.clientCA\.enabled \(mTLS\) needs tls\.enabled/],
      [
        mergeValues(SECURED, { tls: { clientCA: { enabled: true } } }) as never,
        /client certificate on every agent/,
      ],
      [
        mergeValues(SECURED, {
          tls: { agentCertificates: { source: 'csi', csi: { issuerName: 'x' } } },
        }) as never,
        /tls\.clientCA\.enabled is false/,
      ],
      [
        mergeValues(MTLS_CSI, { tls: { agentCertificates: { source: 'vault' } } }) as never,
        /must be none, csi or hostPath, got vault/,
      ],
      [
        mergeValues(MTLS_CSI, { tls: { agentCertificates: { csi: { issuerName: '' } } } }) as never,
        /needs tls\.agentCertificates\.csi\.issuerName/,
      ],
      [
        mergeValues(MTLS_CSI, { nats: { auth: { agent: { secretName: 'fl-nats-agents' } } } }) as never,
        /cannot follow/,
      ],
      [
        { auth: { tokenSecret: { name: 'cli' } } },
        /auth\.tokenSecret .* set auth\.agentTokenSecret or tls\.clientCA\.enabled/,
      ],
      [
        { auth: { agentTokenSecret: { name: 'agents' } } },
        /auth\.agentTokenSecret .* set auth\.tokenSecret or tls\.clientCA\.enabled/,
      ],
      [
        { nats: { auth: { detector: { format: 'jwt' } } } },
        /nats\.auth\.detector\.format must be nkey or creds, got jwt/,
      ],
      [
        { nats: { auth: { agent: { secretName: 'a', hostPath: '/b' } } } },
        /secretName or hostPath, not both/,
      ],
    ];
    for (const [values, message] of refused)
      expect(() => renderChart(chartDir, { values }), String(message)).toThrow(message);
    // mTLS alone authenticates both services, so a CLI token without an agent token is fine then.
    expect(() =>
      helmObjects(mergeValues(MTLS_CSI, { auth: { agentTokenSecret: { name: '' } } }) as never),
    ).not.toThrow();
  });
});

describe('kustomize component security (deploy/kustomize/components/security)', () => {
  const componentDir = join(deployDir, 'kustomize', 'components', 'security');
  const kustomization = yaml.parse(read(join(componentDir, 'kustomization.yaml'))) as {
    kind: string;
    patches: { path: string }[];
  };
  const patches = kustomization.patches.map((p) => manifests([join(componentDir, p.path)])[0] as K8sObject);
  /** The chart's values that mount the Secrets the component names. */
  const SAME_AS_COMPONENT = {
    tls: {
      enabled: true,
      secretName: 'faultline-controller-tls',
      ca: { secretName: 'faultline-controller-ca' },
    },
    auth: {
      tokenSecret: { name: 'faultline-cli-tokens' },
      agentTokenSecret: { name: 'faultline-agent-tokens' },
    },
    nats: {
      tls: { caSecret: { name: 'faultline-nats-ca' } },
      auth: {
        controller: { secretName: 'faultline-nats-controller' },
        detector: { secretName: 'faultline-nats-detector' },
        agent: { secretName: 'faultline-nats-agents' },
      },
    },
  };

  it('is a Component of patches, one per workload of the base, that hold no secret material', () => {
    expect(kustomization.kind).toBe('Component');
    const base = baseObjects();
    expect(patches.map((p) => `${p.kind}/${p.metadata.name}`).sort()).toEqual(
      WORKLOADS.map(([, kind, name]) => `${kind}/${name}`).sort(),
    );
    for (const p of patches) {
      const [bin] = WORKLOADS.find((w) => w[2] === p.metadata.name) as [Binary, string, string];
      expect(podSpec(p).containers.map((c) => c.name)).toEqual([bin]);
      expect(find(base, p.kind, p.metadata.name)).toBeDefined();
    }
    for (const f of filesUnder(componentDir)) expectNoSecretMaterial(read(f), relative(root, f));
  });

  it('patches in what the chart renders with the same Secrets: env, read-only mounts and volumes', () => {
    const helm = helmObjects(SAME_AS_COMPONENT);
    const defaults = helmObjects();
    for (const patch of patches) {
      const [bin, kind, name] = WORKLOADS.find((w) => w[2] === patch.metadata.name) as [
        Binary,
        string,
        string,
      ];
      const added = <T extends { name: string }>(all: T[] | undefined, before: T[] | undefined): T[] =>
        (all ?? []).filter(
          (x) => !(before ?? []).some((b) => b.name === x.name && JSON.stringify(b) === JSON.stringify(x)),
        );
      const [h, d] = [find(helm, kind, name), find(defaults, kind, name)];
      const pc = container(patch, bin);
      const byName = <T extends { name: string }>(xs: T[]): T[] =>
        [...xs].sort((a, b) => a.name.localeCompare(b.name));
      expect(byName(pc.env ?? []), name).toEqual(byName(added(container(h, bin).env, container(d, bin).env)));
      expect(byName(pc.volumeMounts ?? []), name).toEqual(
        byName(added(container(h, bin).volumeMounts, container(d, bin).volumeMounts)),
      );
      expect(byName(podSpec(patch).volumes ?? []), name).toEqual(
        byName(added(podSpec(h).volumes, podSpec(d).volumes)),
      );
    }
  });

  it('builds with kubectl kustomize over the base, every file a variable names in a read-only Secret mount', async (ctx) => {
    const probe = await run('sh', ['-c', 'command -v kubectl'], {}).catch(() => ({ code: 1 }) as RunResult);
    if (probe.code !== 0) ctx.skip();
    await using dir = tempDir('faultline-kustomize-');
    writeFileSync(
      join(dir.path, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        `resources: [${relative(dir.path, baseDir)}]`,
        `components: [${relative(dir.path, componentDir)}]`,
        '',
      ].join('\n'),
    );
    const r = await run('kubectl', ['kustomize', dir.path], {});
    expect(r.code, r.stderr).toBe(0);
    expectNoSecretMaterial(r.stdout, 'kubectl kustomize base + security');
    const objects = manifestsOf(r.stdout, 'kubectl kustomize');
    checkSecurityWiring(objects, 'kustomize security');
    const base = baseObjects();
    const parts = (bin: Binary): { pod: PodSpec; c: Container } => {
      const [, kind, name] = WORKLOADS.find((w) => w[0] === bin) as [Binary, string, string];
      return { pod: podSpec(find(objects, kind, name)), c: container(find(objects, kind, name), bin) };
    };
    const ctl = parts('controller');
    expect(sourceOf(ctl.pod, ctl.c, 'FAULTLINE_CONTROLLER_TLS_KEY')).toBe(
      'secret/faultline-controller-tls/tls.key',
    );
    expect(sourceOf(ctl.pod, ctl.c, 'FAULTLINE_NATS_NKEY_FILE')).toBe(
      'secret/faultline-nats-controller/controller.nk',
    );
    const env = Object.fromEntries(
      (ctl.c.env ?? []).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])),
    );
    expect(
      resolveControllerOptions(parseControllerConfig(ctl.c.args ?? [], withoutNatsSecurityEnv(env)))
        .tokenFile,
    ).toBe('/etc/faultline/cli-tokens/tokens');
    const ag = parts('agent');
    expect(sourceOf(ag.pod, ag.c, 'FAULTLINE_AGENT_TLS_CA')).toBe('secret/faultline-controller-ca/ca.crt');
    expect(sourceOf(ag.pod, ag.c, 'AGENT_NATS_SEED_DIR')).toBe('secret/faultline-nats-agents');
    expect(secretsOf(parts('detector').pod)).toEqual(['faultline-nats-ca', 'faultline-nats-detector']);
    // The base's own settings survive the patches: args, wrapper, probes, the base's env.
    for (const [bin, kind, name] of WORKLOADS) {
      const [built, plain] = [
        container(find(objects, kind, name), bin),
        container(find(base, kind, name), bin),
      ];
      expect(built.args, name).toEqual(plain.args);
      expect(built.command, name).toEqual(plain.command);
      expect(built.livenessProbe, name).toEqual(plain.livenessProbe);
      for (const e of plain.env ?? [])
        expect(
          built.env?.map((x) => x.name),
          name,
        ).toContain(e.name);
      for (const m of plain.volumeMounts ?? []) expect(built.volumeMounts, name).toContainEqual(m);
    }
  });
});

describe('Grafana dashboard (deploy/grafana/faultline.json)', () => {
  interface Panel {
    id: number;
    type: string;
    title: string;
    datasource?: { uid: string };
    targets?: { expr: string; datasource?: { uid: string } }[];
  }
  const dashboard = JSON.parse(read(join(deployDir, 'grafana', 'faultline.json'))) as {
    uid: string;
    panels: Panel[];
    templating: { list: { name: string; query?: unknown; definition?: string }[] };
  };
  const exprs = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.templating.list.map((v) => v.definition ?? ''),
  ];

  /** Metric names the code registers, with their type and (summaries) their quantiles. */
  async function definedMetrics(): Promise<Map<string, { type: string; quantiles: number[] }>> {
    const out = new Map<string, { type: string; quantiles: number[] }>();
    const sources = ['agent', 'controller', 'detector'].map(packageSource).join('\n');
    for (const m of sources.matchAll(
      /new (Counter|Gauge|Histogram|Summary)(?:<[^>]*>)?\(\{([\s\S]*?)\}\);/g,
    )) {
      const body = m[2] as string;
      const name = /name: '(faultline_\w+)'/.exec(body)?.[1];
      if (!name) continue;
      const quantiles = (
        /percentiles: \[([^\]]*)\]/.exec(body)?.[1] ?? '0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999'
      )
        .split(',')
        .map(Number);
      out.set(name, { type: (m[1] as string).toLowerCase(), quantiles });
    }
    // prom-client's default process metrics, under each prefix the code collects them with.
    const agentRegistry = new AgentMetrics({ agent: 'test' }).registry;
    const defaults = (await agentRegistry.getMetricsAsJSON())
      .map((metric) => ({ name: metric.name, type: String(metric.type) }))
      .filter((x) => !out.has(x.name) && x.name.startsWith('faultline_agent_'))
      .map((x) => ({ suffix: x.name.slice('faultline_agent_'.length), type: x.type }));
    expect(defaults.map((d) => d.suffix)).toContain('process_resident_memory_bytes');
    for (const prefix of sources.matchAll(/collectDefaultMetrics\(\{[^}]*prefix: '(faultline_\w+_)'/g)) {
      for (const d of defaults) out.set(`${prefix[1] as string}${d.suffix}`, { type: d.type, quantiles: [] });
    }
    return out;
  }

  it('queries only metrics the code defines, and only quantiles their summaries compute', async () => {
    const defined = await definedMetrics();
    expect(defined.size).toBeGreaterThan(40);
    const queried = new Set<string>();
    for (const expr of exprs) {
      for (const m of expr.matchAll(/\b(faultline_\w+?)(_bucket|_sum|_count)?\b(\{[^}]*\})?/g)) {
        let name = m[0].replace(/\{.*$/, '');
        const suffix = m[2];
        if (!defined.has(name) && suffix) {
          const baseName = name.slice(0, -suffix.length);
          const type = defined.get(baseName)?.type;
          expect(
            type === 'histogram' || (type === 'summary' && suffix !== '_bucket'),
            `${name} in ${expr}`,
          ).toBe(true);
          name = baseName;
        }
        expect(defined.has(name), `${name} in ${expr}`).toBe(true);
        queried.add(name);
        const quantile = /quantile="([\d.]+)"/.exec(m[3] ?? '')?.[1];
        if (quantile !== undefined)
          expect(defined.get(name)?.quantiles, `${name} quantile ${quantile}`).toContain(Number(quantile));
      }
    }
    for (const needed of [
      'faultline_agent_samples_taken_total',
      'faultline_agent_samples_published',
      'faultline_agent_samples_spooled',
      'faultline_agent_samples_lost',
      'faultline_agent_sampling_jitter_seconds',
      'faultline_agent_process_cpu_seconds_total',
      'faultline_agent_process_resident_memory_bytes',
      'faultline_agent_injections_running',
      'faultline_controller_errors_total',
      'faultline_detector_consumer_pending_messages',
      'faultline_detector_samples_per_second',
      'faultline_detector_anomaly_events_total',
      'faultline_detector_model_age_seconds',
    ]) {
      expect(queried, needed).toContain(needed);
    }
  });

  it('has unique panel ids and a data source variable every query uses', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.map((v) => v.name)).toContain('datasource');
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe('${datasource}');
    }
  });
});

describe('deploy/docker/agent-identity.mjs (the agent pod init step)', () => {
  it('writes the node name as a subject token and the static labels, without calling the API', async () => {
    await using dir = tempDir('faultline-identity-');
    const r = await run(process.execPath, [identityScript], {
      NODE_NAME: 'ip-10-0-1-7.ec2.internal',
      FAULTLINE_STATIC_LABELS: 'role=worker,env=test',
      FAULTLINE_NODE_LABELS: '',
      FAULTLINE_IDENTITY_DIR: dir.path,
      FAULTLINE_KUBE_API: 'http://127.0.0.1:1',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(read(join(dir.path, 'agent-id'))).toBe('ip-10-0-1-7-ec2-internal');
    expect(read(join(dir.path, 'agent-labels'))).toBe('role=worker,env=test');
  });

  it('adds the mapped node labels read with the service account token; a static label wins', async () => {
    await using dir = tempDir('faultline-identity-');
    await using api = await fakeApiServer({
      'node-a.example': {
        'topology.kubernetes.io/zone': 'eu-west-1b',
        'kubernetes.io/os': 'linux',
        role: 'from-node',
      },
    });
    writeFileSync(join(dir.path, 'token'), 'sa-token-123\n');
    const r = await run(process.execPath, [identityScript], {
      NODE_NAME: 'node-a.example',
      FAULTLINE_STATIC_LABELS: 'role=worker',
      FAULTLINE_NODE_LABELS:
        'topology.kubernetes.io/zone=zone,kubernetes.io/os=os,role=role,topology.kubernetes.io/region=region',
      FAULTLINE_IDENTITY_DIR: join(dir.path, 'out'),
      FAULTLINE_SA_DIR: dir.path,
      FAULTLINE_KUBE_API: api.url,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(api.requests.map((q) => [q.url, q.headers.authorization])).toEqual([
      ['/api/v1/nodes/node-a.example', 'Bearer sa-token-123'],
    ]);
    expect(read(join(dir.path, 'out', 'agent-id'))).toBe('node-a-example');
    expect(read(join(dir.path, 'out', 'agent-labels'))).toBe('role=worker,zone=eu-west-1b,os=linux');
    expect(r.stderr).toMatch(/no usable label topology\.kubernetes\.io\/region: region left out/);
  });

  it('exits 1 when the node cannot be read and 2 on malformed settings, writing nothing', async () => {
    await using dir = tempDir('faultline-identity-');
    await using api = await fakeApiServer({}, 403);
    writeFileSync(join(dir.path, 'token'), 't');
    const env = { NODE_NAME: 'n1', FAULTLINE_SA_DIR: dir.path, FAULTLINE_KUBE_API: api.url };
    const forbidden = await run(process.execPath, [identityScript], {
      ...env,
      FAULTLINE_NODE_LABELS: 'a=b',
      FAULTLINE_IDENTITY_DIR: join(dir.path, 'a'),
    });
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/answered 403/);
    expect(existsSync(join(dir.path, 'a', 'agent-id'))).toBe(false);
    const malformed = await run(process.execPath, [identityScript], {
      ...env,
      FAULTLINE_STATIC_LABELS: 'role',
      FAULTLINE_IDENTITY_DIR: join(dir.path, 'b'),
    });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/FAULTLINE_STATIC_LABELS must be key=value pairs/);
    const noNode = await run(process.execPath, [identityScript], {
      FAULTLINE_IDENTITY_DIR: join(dir.path, 'c'),
    });
    expect(noNode.code).toBe(2);
    expect(existsSync(join(dir.path, 'b'))).toBe(false);
  });

  it("feeds the agent container's wrapper, which hands the agent an id and labels it accepts", async () => {
    await using dir = tempDir('faultline-identity-');
    await using api = await fakeApiServer({
      'worker-3.cluster.local': { 'topology.kubernetes.io/zone': 'z1' },
    });
    writeFileSync(join(dir.path, 'token'), 't');
    const ds = find(baseObjects(), 'DaemonSet', 'faultline-agent');
    const pod = podSpec(ds);
    const init = pod.initContainers?.find((c) => c.name === 'identity') as Container;
    const identityDir = envOf(init, 'FAULTLINE_IDENTITY_DIR')?.value ?? '';
    expect(init.command).toEqual(['node', '/opt/faultline/agent-identity.mjs']);
    const initEnv = Object.fromEntries(
      (init.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]),
    );
    const out = join(dir.path, 'run');
    const r1 = await run(process.execPath, [identityScript], {
      ...initEnv,
      NODE_NAME: 'worker-3.cluster.local',
      FAULTLINE_IDENTITY_DIR: out,
      FAULTLINE_SA_DIR: dir.path,
      FAULTLINE_KUBE_API: api.url,
    });
    expect(r1.code, r1.stderr).toBe(0);

    // The agent container's command, with the paths of this machine and a stand-in agent
    // that prints what it was given.
    const agent = container(ds, 'agent');
    const command = agent.command ?? [];
    expect(command.slice(0, 5)).toEqual(['/usr/bin/tini', '-s', '--', '/bin/sh', '-ec']);
    expect(agent.volumeMounts?.find((m) => m.mountPath === identityDir)?.readOnly).toBe(true);
    const standIn = join(dir.path, 'print-agent.mjs');
    writeFileSync(
      standIn,
      'console.log(JSON.stringify({ id: process.env.FAULTLINE_AGENT_ID, labels: process.env.FAULTLINE_AGENT_LABELS, args: process.argv.slice(2) }));\n',
    );
    const launch = `node ${AGENT_NODE_FLAGS.join(' ')} /app/dist/bin/faultline-agent.js`;
    expect(command[5]).toContain(launch);
    const script = (command[5] ?? '')
      .replaceAll(identityDir, out)
      .replace(launch, `"${process.execPath}" "${standIn}"`);
    const r2 = await run('/bin/sh', ['-ec', script, command[6] ?? '', ...(agent.args ?? [])], {});
    expect(r2.code, r2.stderr).toBe(0);
    const got = JSON.parse(r2.stdout) as { id: string; labels: string; args: string[] };
    expect(got.args).toEqual(agent.args);
    expect(got.id).toBe('worker-3-cluster-local');
    expect(got.labels).toBe('role=worker,zone=z1');
    const resolved = resolveAgentOptions(
      agentOptionsFrom(agentFlagsFrom(got.args), {
        FAULTLINE_AGENT_ID: got.id,
        FAULTLINE_AGENT_LABELS: got.labels,
      }),
      SMALLEST_NODE,
    );
    expect(resolved.agentId).toBe('worker-3-cluster-local');
    expect(resolved.labels).toEqual({ role: 'worker', zone: 'z1' });
  });
  it("has the agent's wrapper pick its per-agent files by its id, and take the pod name as id for csi certificates", async () => {
    await using dir = tempDir('faultline-wrapper-');
    writeFileSync(join(dir.path, 'agent-id'), 'node-a');
    writeFileSync(join(dir.path, 'agent-labels'), 'role=worker');
    const standIn = join(dir.path, 'print-agent.mjs');
    writeFileSync(
      standIn,
      'const e = process.env; console.log(JSON.stringify({ id: e.FAULTLINE_AGENT_ID, cert: e.FAULTLINE_AGENT_TLS_CERT, key: e.FAULTLINE_AGENT_TLS_KEY, nkey: e.FAULTLINE_NATS_NKEY_FILE, creds: e.FAULTLINE_NATS_CREDS }));\n',
    );
    const agent = container(find(baseObjects(), 'DaemonSet', 'faultline-agent'), 'agent');
    const script = (agent.command?.[5] ?? '')
      .replaceAll('/run/faultline', dir.path)
      .replace(
        `node ${AGENT_NODE_FLAGS.join(' ')} /app/dist/bin/faultline-agent.js`,
        `"${process.execPath}" "${standIn}"`,
      );
    const wrapped = async (env: Record<string, string>): Promise<Record<string, string>> => {
      const r = await run('/bin/sh', ['-ec', script, 'faultline-agent', 'serve'], env);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Record<string, string>;
    };
    expect(await wrapped({})).toEqual({ id: 'node-a' });
    const files = await wrapped({
      AGENT_TLS_DIR: '/etc/faultline/agent-tls',
      AGENT_NATS_SEED_DIR: '/etc/faultline/nats',
    });
    expect(files).toEqual({
      id: 'node-a',
      cert: '/etc/faultline/agent-tls/node-a.crt',
      key: '/etc/faultline/agent-tls/node-a.key',
      nkey: '/etc/faultline/nats/node-a.nk',
    });
    expect(await wrapped({ AGENT_NATS_CREDS_DIR: '/etc/faultline/nats' })).toEqual({
      id: 'node-a',
      creds: '/etc/faultline/nats/node-a.creds',
    });
    expect(await wrapped({ AGENT_ID_FROM_POD: 'faultline-agent-x7k2p' })).toEqual({
      id: 'faultline-agent-x7k2p',
    });
    // What the wrapper exports is what the agent reads.
    expect(
      controlSecurityFrom({}, { FAULTLINE_AGENT_TLS_CERT: files.cert, FAULTLINE_AGENT_TLS_KEY: files.key }),
    ).toMatchObject({
      tlsCertFile: '/etc/faultline/agent-tls/node-a.crt',
      tlsKeyFile: '/etc/faultline/agent-tls/node-a.key',
    });
    expect(natsAuthFromFlags({}, { FAULTLINE_NATS_NKEY_FILE: files.nkey })).toMatchObject({
      nkeyFile: '/etc/faultline/nats/node-a.nk',
    });
  });
});

describe('deploy/docker/healthcheck.mjs (probe of loopback-only /healthz)', () => {
  it('passes on 2xx, fails on 503 unless --live, and fails when nothing listens', async () => {
    let status = 200;
    const server = createServer((req, res) => res.writeHead(req.url === '/healthz' ? status : 404).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = String((server.address() as AddressInfo).port);
    try {
      expect((await run(process.execPath, [healthScript, port], {})).code).toBe(0);
      status = 503;
      const unready = await run(process.execPath, [healthScript, port], {});
      expect(unready.code).toBe(1);
      expect(unready.stderr).toMatch(/answered 503/);
      expect((await run(process.execPath, [healthScript, port, '--live'], {})).code).toBe(0);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const closed = await run(process.execPath, [healthScript, port, '--live'], {});
    expect(closed.code).toBe(1);
    expect(closed.stderr).toMatch(/ECONNREFUSED/);
    expect((await run(process.execPath, [healthScript, 'x'], {})).code).toBe(2);
  });
});
