import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Child, startChild } from '../../src/kit/child-process.ts';
import { freePort } from '../../src/kit/ports.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { ALLOCATOR_ENV, NODE_FLAGS } from '../../src/lib/runtime.ts';

// README §Container. This machine has no container engine: what can be
// checked without one is that compose.yaml is what compose reads, that the
// image runs the command the systemd unit and `npm start` run, and that
// this command, started as the image starts it, serves and passes the
// image's health check.

const ROOT = join(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

let bridge: Child | undefined;
let dataDir: string | undefined;

afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
  if (dataDir) removeTempDir(dataDir);
  dataDir = undefined;
});

/** A shell command's leading `NAME=value` words, and the command after them. */
function splitAssignments(words: string[]): [string[], string[]] {
  const first = words.findIndex((word) => !/^[A-Z_]+=/.test(word));
  return [words.slice(0, first), words.slice(first)];
}

/** A Dockerfile instruction's JSON (exec form) argument list. */
function execForm(dockerfile: string, instruction: RegExp): string[] {
  const joined = dockerfile.replace(/\\\n\s*/g, ' ');
  const line = joined.split('\n').find((l) => instruction.test(l));
  expect(line, String(instruction)).toBeDefined();
  return JSON.parse(line!.slice(line!.indexOf('[')));
}

describe('the container', () => {
  it('compose.yaml is YAML compose reads: the service, its volume at DATA_DIR, its ports and file limit', () => {
    const json = execFileSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', join(ROOT, 'compose.yaml')], {
      encoding: 'utf8',
    });
    const compose = JSON.parse(json);
    const service = compose.services.facegate;
    expect(service.build).toBe('.');
    expect(service.environment.DATA_DIR).toBe('/var/lib/facegate');
    expect(service.volumes).toContain('facegate-data:/var/lib/facegate');
    expect(Object.keys(compose.volumes)).toContain('facegate-data');
    expect(service.ports).toEqual(['6699:6699', '1883:1883']);
    expect(service.ulimits.nofile).toBe(65536);
    expect(service.env_file).toEqual([{ path: '.env', required: false }]);
    expect(service.profiles).toBeUndefined();
  });

  it('compose.yaml has a cluster profile: Mosquitto set as the README asks, PostgreSQL, two replicas on both', () => {
    const compose = JSON.parse(
      execFileSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', join(ROOT, 'compose.yaml')], {
        encoding: 'utf8',
      }),
    );
    const cluster = Object.entries(compose.services as Record<string, { profiles?: string[] }>)
      .filter(([, s]) => s.profiles?.includes('cluster'))
      .map(([name]) => name);
    expect(cluster).toEqual(['mosquitto', 'postgres', 'replica-1', 'replica-2']);
    // Every setting of the README's mosquitto.conf that is not a path is in the profile's.
    const readme = read('README.md');
    const block = readme.slice(readme.indexOf('A complete `mosquitto.conf`'));
    const settings = block.slice(block.indexOf('```') + 4, block.indexOf('```', block.indexOf('```') + 3)).split('\n');
    const wanted = settings.filter((line) => /^[a-z_]+ /.test(line) && !/(_location|_file) /.test(line));
    expect(wanted.length).toBeGreaterThan(5);
    const conf = compose.configs.mosquitto.content.split('\n');
    for (const line of wanted) expect(conf, line).toContain(line);
    const ids = new Set<string>();
    for (const name of ['replica-1', 'replica-2']) {
      const replica = compose.services[name];
      expect(replica.environment.DATABASE_URL).toMatch(/^postgres:\/\/facegate:.*@postgres:5432\/facegate$/);
      expect(replica.environment.MQTT_URL).toBe('mqtt://mosquitto:1883');
      expect(replica.depends_on.postgres.condition).toBe('service_healthy');
      ids.add(replica.environment.MQTT_CLIENT_ID);
    }
    expect(ids.size).toBe(2);
    expect(compose.services.postgres.image).toMatch(/^postgres:15/);
  });

  it('runs the command of the systemd unit and of npm start, as a user of its own, with its data in the volume', () => {
    const dockerfile = read('Dockerfile');
    const cmd = execForm(dockerfile, /^CMD \[/);
    const unitFile = read('wrangler-free.md');
    const unit = /^ExecStart=(.*)$/m.exec(unitFile)![1].split(' ');
    const [assignments, command] = splitAssignments(JSON.parse(read('package.json')).scripts.start.split('&& ')[1].split(' '));
    expect(cmd.slice(1)).toEqual(unit.slice(1));
    expect(cmd.slice(1)).toEqual(command.slice(1));
    // The settings of src/lib/runtime.ts, in each of the four ways the bridge is started.
    for (const flag of NODE_FLAGS) expect(cmd).toContain(flag);
    const shebang = splitAssignments(read('src/cli.ts').split('\n')[0].replace('#!/usr/bin/env -S ', '').split(' '));
    expect(shebang[1]).toEqual(['node', ...NODE_FLAGS]);
    for (const [name, value] of Object.entries(ALLOCATOR_ENV)) {
      expect(dockerfile).toMatch(new RegExp(`^ENV ${name}=${value}$`, 'm'));
      expect(unitFile).toMatch(new RegExp(`^Environment=${name}=${value}$`, 'm'));
      expect(assignments).toContain(`${name}=${value}`);
      expect(shebang[0]).toContain(`${name}=${value}`);
    }
    expect(dockerfile).toMatch(/^USER facegate$/m);
    expect(dockerfile).toMatch(/^ENV DATA_DIR=\/var\/lib\/facegate$/m);
    expect(dockerfile).toMatch(/^VOLUME \["\/var\/lib\/facegate"\]$/m);
    expect(dockerfile).toMatch(/^FROM node:\$\{NODE_VERSION\}-bookworm-slim$/m);
  });

  it('that command serves, and the image’s health check passes while it does and fails once it is gone', async () => {
    const dockerfile = read('Dockerfile');
    const [, ...args] = execForm(dockerfile, /^CMD \[/);
    const [, ...check] = execForm(dockerfile, /^HEALTHCHECK .* CMD \[/);
    dataDir = makeTempDir('facegate-container-');
    const env = {
      PATH: process.env.PATH,
      DATA_DIR: dataDir,
      PORT: String(await freePort()),
      BROKER_PORT: String(await freePort()),
      HOST: '127.0.0.1',
      TZ: 'Asia/Shanghai',
      ...ALLOCATOR_ENV,
      ADMIN_TOKEN: 'container-test-token-0123',
    };
    bridge = startChild(process.execPath, args, { cwd: ROOT, env });
    const started = JSON.parse(await bridge.waitForLine(/"facegate started"/, 30_000, 'starting as the image does'));
    expect(started).toMatchObject({ timeZone: 'Asia/Shanghai', utcOffset: '+08:00' });
    const health = () => spawnSync(process.execPath, check, { env: { PATH: process.env.PATH, PORT: env.PORT }, timeout: 10_000 }).status;
    expect(health()).toBe(0);
    await bridge.stop();
    bridge = undefined;
    expect(health()).toBe(1);
  });
});
