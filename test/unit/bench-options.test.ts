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
