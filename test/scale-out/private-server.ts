import { rmSync } from 'node:fs';
import { freePort, infraScript } from '@opal/test-infra';

/**
 * A server of the project's local infrastructure started as an instance of its own (its own ports,
 * data and pid files), for a test that crashes and restarts it without disturbing the shared one.
 */
export function privateServer(name: 'kafka' | 'ferretdb', portVariables: readonly string[]) {
  const instance = `fault-${name}-${process.pid}`;
  const env: Record<string, string> = { OPAL_INFRA_INSTANCE: instance };
  let instanceDir = '';
  const server = {
    endpoints: {} as { kafkaBrokers?: string; mongoUrl?: string },
    async up() {
      for (const v of portVariables) env[v] ??= String(await freePort());
      server.endpoints = await infraScript(['up', name, '--json'], env);
      instanceDir ||= (await infraScript(['status', '--json'], env)).instanceDir ?? '';
      return server.endpoints;
    },
    /** SIGKILL: a crash. */
    kill: () => infraScript(['down', name, '--kill'], env),
    async remove() {
      await server.kill();
      if (instanceDir.includes(`/instances/${instance}`)) rmSync(instanceDir, { recursive: true, force: true });
    },
  };
  return server;
}
