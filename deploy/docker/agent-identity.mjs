#!/usr/bin/env node
/**
 * Init step of the agent's pod on Kubernetes: works out the agent's id and labels from the
 * node it landed on and writes them where the agent container reads them.
 *
 * - `<dir>/agent-id`: the node name made a NATS subject token (every character outside
 *   `[A-Za-z0-9_-]` becomes `-`, so `ip-10-0-1-7.ec2.internal` → `ip-10-0-1-7-ec2-internal`).
 * - `<dir>/agent-labels`: `k=v,...` for `--labels`: the static labels, then the node's labels
 *   renamed by the mapping (a static label wins over a node label of the same name; a node
 *   label the node does not have is left out and logged).
 *
 * Environment:
 *
 * | variable | meaning |
 * |---|---|
 * | `NODE_NAME` | the node's name (downward API `spec.nodeName`); required |
 * | `FAULTLINE_STATIC_LABELS` | `k=v,...` given to every agent; default none |
 * | `FAULTLINE_NODE_LABELS` | `nodeLabel=agentLabel,...`; empty: no API call at all |
 * | `FAULTLINE_IDENTITY_DIR` | where to write; default `/run/faultline` |
 * | `FAULTLINE_SA_DIR` | service account token and CA; default `/var/run/secrets/kubernetes.io/serviceaccount` |
 * | `FAULTLINE_KUBE_API` | API server base URL; default `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` |
 *
 * Needs `get` on `nodes` only when FAULTLINE_NODE_LABELS is set. Exits 1 when the node
 * cannot be read (the kubelet retries the init container), 2 on a malformed setting.
 */
import { Buffer } from 'node:buffer';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';

const LABEL_KEY = /^[A-Za-z0-9_.-]+$/;
const LABEL_VALUE = /^[A-Za-z0-9_.-]*$/;

class SettingError extends Error {}

/** `a=b,c=d` → [['a', 'b'], ['c', 'd']]; `what` names the setting in errors. */
function parsePairs(text, what) {
  const pairs = [];
  for (const part of (text ?? '').split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? '' : part.slice(0, eq).trim();
    const value = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (key === '' || value === '' || value.includes('=')) {
      throw new SettingError(
        `${what} must be key=value pairs separated by commas, got ${JSON.stringify(text)}`,
      );
    }
    pairs.push([key, value]);
  }
  return pairs;
}

function agentIdOf(nodeName) {
  return nodeName.replace(/[^A-Za-z0-9_-]/g, '-');
}

function getJson(url, token, ca) {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      url,
      {
        method: 'GET',
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        ca,
        timeout: 10_000,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(new Error(`GET ${url.pathname} answered ${res.statusCode}: ${body.slice(0, 300)}`));
            return;
          }
          try {
            resolve(JSON.parse(body));
          } catch (err) {
            reject(new Error(`GET ${url.pathname} answered invalid JSON`, { cause: err }));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url.pathname}: no answer within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

async function nodeLabels(nodeName, env) {
  const saDir = env.FAULTLINE_SA_DIR || '/var/run/secrets/kubernetes.io/serviceaccount';
  const base =
    env.FAULTLINE_KUBE_API ||
    `https://${env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT || '443'}`;
  const token = readFileSync(join(saDir, 'token'), 'utf8').trim();
  const url = new URL(`/api/v1/nodes/${encodeURIComponent(nodeName)}`, base);
  const ca = url.protocol === 'https:' ? readFileSync(join(saDir, 'ca.crt')) : undefined;
  const node = await getJson(url, token, ca);
  return node?.metadata?.labels ?? {};
}

async function main(env) {
  const nodeName = env.NODE_NAME ?? '';
  if (nodeName === '') throw new SettingError('NODE_NAME must be set (downward API spec.nodeName)');
  const labels = new Map(parsePairs(env.FAULTLINE_STATIC_LABELS, 'FAULTLINE_STATIC_LABELS'));
  const mapping = parsePairs(env.FAULTLINE_NODE_LABELS, 'FAULTLINE_NODE_LABELS');
  for (const [key, value] of [...labels, ...mapping.map(([, to]) => [to, ''])]) {
    if (!LABEL_KEY.test(key) || !LABEL_VALUE.test(value)) {
      throw new SettingError(`agent label ${JSON.stringify(`${key}=${value}`)} must match [A-Za-z0-9_.-]`);
    }
  }
  if (mapping.length > 0) {
    const fromNode = await nodeLabels(nodeName, env);
    for (const [nodeKey, agentKey] of mapping) {
      const value = fromNode[nodeKey];
      if (typeof value !== 'string' || value === '' || !LABEL_VALUE.test(value)) {
        process.stderr.write(`node ${nodeName} has no usable label ${nodeKey}: ${agentKey} left out\n`);
      } else if (!labels.has(agentKey)) {
        labels.set(agentKey, value);
      }
    }
  }
  const dir = env.FAULTLINE_IDENTITY_DIR || '/run/faultline';
  mkdirSync(dir, { recursive: true });
  const agentId = agentIdOf(nodeName);
  const text = [...labels].map(([k, v]) => `${k}=${v}`).join(',');
  writeFileSync(join(dir, 'agent-id'), agentId);
  writeFileSync(join(dir, 'agent-labels'), text);
  process.stdout.write(`agent id ${agentId}, labels ${text || '(none)'}\n`);
}

main(process.env).catch((err) => {
  process.stderr.write(`agent-identity: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = err instanceof SettingError ? 2 : 1;
});
