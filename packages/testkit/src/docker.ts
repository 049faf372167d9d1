import { existsSync } from 'node:fs';

/**
 * Whether a Docker engine looks reachable (DOCKER_HOST set or the default socket present).
 * Set FAULTLINE_TESTKIT_DOCKER=0 to force local binaries, =1 to force containers.
 */
export function dockerAvailable(): boolean {
  const forced = process.env.FAULTLINE_TESTKIT_DOCKER;
  if (forced === '0') return false;
  if (forced === '1') return true;
  return (process.env.DOCKER_HOST ?? '') !== '' || existsSync('/var/run/docker.sock');
}
