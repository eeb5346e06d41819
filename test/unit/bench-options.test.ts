import { describe, expect, it } from 'vitest';
import { CLUSTER_SETUP_NAMES, parseBenchOptions, UsageError } from '../../src/bench/options.ts';
import { CLUSTER_SETUPS } from '../../src/bench/scenarios/cluster.ts';

describe('--setups', () => {
  it('names the setups the cluster scenario has, in its order', () => {
    expect(CLUSTER_SETUPS.map((s) => s.name)).toEqual([...CLUSTER_SETUP_NAMES]);
  });

  it('runs every setup unless told, and the named ones in the scenario order', () => {
    expect(parseBenchOptions(['--only', 'cluster'])?.clusterSetups).toEqual(['sqlite', 'postgres', 'postgres-2', 'takeover']);
    expect(parseBenchOptions(['--only', 'cluster', '--setups', 'takeover, sqlite'])?.clusterSetups).toEqual(['sqlite', 'takeover']);
  });

  it('refuses a name it does not know, naming it', () => {
    expect(() => parseBenchOptions(['--setups', 'sqlite,mysql'])).toThrow(UsageError);
    expect(() => parseBenchOptions(['--setups', 'sqlite,mysql'])).toThrow(/mysql is not one of sqlite, postgres, postgres-2, takeover/);
    expect(() => parseBenchOptions(['--setups', 'sqlite,'])).toThrow(/an empty name/);
  });
});

describe('--store', () => {
  it('runs the bursts on SQLite alone unless told, and on the stores named in the order sqlite, postgres', () => {
    expect(parseBenchOptions(['--only', 'burst'])?.stores).toEqual(['sqlite']);
    expect(parseBenchOptions(['--only', 'burst', '--store', 'postgres,sqlite'])?.stores).toEqual(['sqlite', 'postgres']);
    expect(parseBenchOptions(['--store', 'postgres'])?.stores).toEqual(['postgres']);
  });

  it('refuses a store it does not know, naming it', () => {
    expect(() => parseBenchOptions(['--store', 'sqlite,mysql'])).toThrow(/--store sqlite,mysql: mysql is not one of sqlite, postgres/);
    expect(() => parseBenchOptions(['--store', ''])).toThrow(/an empty name/);
  });
});

describe('--steady-seconds', () => {
  it('runs delivery-steady 30 s unless told (5 with --quick), and as long as told within an hour', () => {
    expect(parseBenchOptions([])?.steadySeconds).toBe(30);
    expect(parseBenchOptions(['--quick'])?.steadySeconds).toBe(5);
    expect(parseBenchOptions(['--only', 'delivery-steady', '--steady-seconds', '60'])?.steadySeconds).toBe(60);
    expect(() => parseBenchOptions(['--steady-seconds', '0'])).toThrow(UsageError);
    expect(() => parseBenchOptions(['--steady-seconds', '3601'])).toThrow(/steady-seconds/);
  });
});

describe('--warm-up', () => {
  it('warms each burst up with 2,000 records unless told (500 with --quick), none with 0, and at most a burst', () => {
    expect(parseBenchOptions([])?.warmUp).toBe(2000);
    expect(parseBenchOptions(['--quick'])?.warmUp).toBe(500);
    expect(parseBenchOptions(['--warm-up', '0'])?.warmUp).toBe(0);
    expect(() => parseBenchOptions(['--warm-up', '20001'])).toThrow(/--warm-up 20001: expected a whole number from 0 to 20000/);
  });
});
