import { describe, expect, it } from 'vitest';
import { againstCeilings, cpuPerRecord, formatAgainstCeilings, formatCeilings, formatTable, type Result } from '../../src/bench/report/report.ts';
import type { Ceiling } from '../../src/bench/scenarios/ceilings.ts';

// Only the figures the ratios read; the rest of a real result does not matter here.
const burst = (images: 'inline' | 'none', deliveredPerSecond: number) =>
  ({ scenario: 'delivery-burst', transport: 'embedded', sync: 'full', figures: { images, deliveredPerSecond }, process: {} }) as unknown as Result;
const relay = (kind: 'image' | 'none', perSecond: number) => ({ ceiling: 'relay', transport: 'embedded', kind, figures: { perSecond } }) as unknown as Ceiling;
const post = (kind: 'image' | 'none', perSecond: number) => ({ ceiling: 'post', kind, figures: { perSecond } }) as unknown as Ceiling;

describe('againstCeilings', () => {
  it('sets a burst against the relay, the POSTs, and the two one after the other', () => {
    const rows = againstCeilings([burst('inline', 1500)], [relay('image', 8000), relay('none', 24000), post('image', 5000), post('none', 7000)]);
    expect(rows.map((row) => [row.ceiling, Math.round(row.ceilingValue), row.ratio.toFixed(3)])).toEqual([
      ['relay msgs/s', 8000, '0.188'],
      ['POST/s', 5000, '0.300'],
      // 1 ÷ (1/8,000 + 1/5,000) = 3,077 a second
      ['relay then POST /s', 3077, '0.487'],
    ]);
  });

  it('reads each burst against the ceilings measured just before it, and one without any against those of the start', () => {
    const ahead = (plan: number, c: Ceiling) => ({ ...c, before: { plan, label: `delivery-burst embedded ${plan}` } }) as Ceiling;
    const ceilings = [
      relay('image', 8000),
      post('image', 5000),
      ahead(1, relay('image', 6000)),
      ahead(1, post('image', 3000)),
      ahead(2, relay('image', 12000)),
      ahead(2, post('image', 6000)),
    ];
    const rows = againstCeilings([burst('inline', 1500), burst('inline', 1500), burst('inline', 1500)], ceilings);
    const thenPost = rows.filter((row) => row.ceiling === 'relay then POST /s').map((row) => Math.round(row.ceilingValue));
    // 1 ÷ (1/6,000 + 1/3,000), 1 ÷ (1/12,000 + 1/6,000), and the start's 1 ÷ (1/8,000 + 1/5,000).
    expect(thenPost).toEqual([2000, 4000, 3077]);
    const measured = { records: 300, received: 300, lost: 0, perSecond: 1000, timedOut: false, cpuMicrosPerRecord: 500 };
    const text = formatCeilings([ahead(3, { ...relay('image', 1000), figures: measured } as Ceiling)]);
    expect(text.split('\n')[0]).toMatch(/\s+CPU µs\/msg\s+before$/);
    expect(text.split('\n')[1]).toMatch(/\s+500\s+\[3\] delivery-burst embedded 3$/);
    expect(text).toMatch(/^before: the scenario each was measured just before/m);
  });

  it('leaves out a ratio whose ceiling was not measured', () => {
    const rows = againstCeilings([burst('none', 3000)], [relay('none', 24000)]);
    expect(rows.map((row) => row.ceiling)).toEqual(['relay msgs/s']);
  });
});

describe('the cluster scenario', () => {
  const cluster = (setup: string, p99Ms: number, deliveredPerSecond: number) =>
    ({
      scenario: 'cluster',
      transport: 'mosquitto',
      sync: 'full',
      figures: { setup, heartbeats: { terminals: 1000, roundTrip: { p99Ms } }, delivery: { deliveredPerSecond } },
    }) as unknown as Result;
  const echo = (terminals: number, p99Ms: number) =>
    ({ ceiling: 'echo', transport: 'mosquitto', figures: { terminals, roundTrip: { p99Ms } } }) as unknown as Ceiling;

  it('sets each setup against the echo of as many terminals and the relay then POST of its records', () => {
    const rows = againstCeilings(
      [cluster('postgres-2', 40, 600)],
      [echo(100, 5), echo(1000, 20), { ...relay('image', 8000), transport: 'mosquitto' } as Ceiling, post('image', 5000)],
    );
    expect(rows.map((row) => [row.variant, row.ceiling, Math.round(row.ceilingValue), row.ratio.toFixed(3)])).toEqual([
      ['postgres-2', 'echo p99 ms', 20, '2.000'],
      ['postgres-2', 'relay then POST /s', 3077, '0.195'],
    ]);
  });

  it('sets its heartbeats against the echo of as many terminals beside the relay of the same records, and shows that ceiling', () => {
    const relayed = { records: 3000, received: 3000, lost: 0, perSecond: 4500 };
    const flood = (terminals: number, p99Ms: number) =>
      ({
        ceiling: 'flood',
        transport: 'mosquitto',
        figures: {
          terminals,
          connected: terminals,
          relay: relayed,
          heartbeats: { beats: 2, sent: 2 * terminals, missing: 0, roundTrip: { p50Ms: 0.3, p99Ms, maxMs: 300 } },
        },
      }) as unknown as Ceiling;
    const rows = againstCeilings([cluster('sqlite', 400, 1000)], [echo(1000, 2), flood(100, 50), flood(1000, 250)]);
    expect(rows.filter((row) => row.figure === 'hb p99 ms').map((row) => [row.ceiling, row.ceilingValue, row.ratio])).toEqual([
      ['echo p99 ms', 2, 200],
      ['echo beside the relay p99 ms', 250, 1.6],
    ]);
    const table = formatCeilings([flood(1000, 250)]);
    expect(table.split('\n')[1]).toMatch(/^flood\s+mosquitto\s+1,000 terminals, 3,000 records\s+2,000\s+4,500\s+0\.30\s+250\s+300\s+0\s+0\s+-\s+-$/);
    expect(table).toMatch(/^flood: the echo's heartbeat load and the relay's records/m);
  });
});

describe('CPU per record', () => {
  // 20,000 records delivered with the bridge's 30 CPU seconds: 1,500 µs each.
  const delivered = (transport: 'embedded' | 'mosquitto', store: 'sqlite' | 'postgres', cpu: { bridge?: number; mosquitto?: number; postgres?: number }) =>
    ({
      scenario: 'delivery-burst',
      transport,
      sync: 'full',
      store,
      figures: { images: 'inline', delivered: 20_000, deliveredPerSecond: 1000 },
      process: { bridgeCpuSeconds: cpu.bridge, mosquittoCpuSeconds: cpu.mosquitto, postgresCpuSeconds: cpu.postgres },
    }) as unknown as Result;
  const relayCpu = (transport: 'embedded' | 'mosquitto', cpuMicrosPerRecord: number) =>
    ({ ceiling: 'relay', transport, kind: 'image', figures: { perSecond: 8000, cpuMicrosPerRecord } }) as unknown as Ceiling;
  const postCpu = (cpuMicrosPerRequest: number) =>
    ({ ceiling: 'post', kind: 'image', figures: { perSecond: 5000, cpuMicrosPerRequest } }) as unknown as Ceiling;

  it("divides each process's CPU time over the burst by the records delivered, or stored", () => {
    expect(cpuPerRecord(delivered('mosquitto', 'postgres', { bridge: 30, mosquitto: 4, postgres: 50 }))).toEqual({
      bridge: 1500,
      main: undefined,
      writer: undefined,
      mosquitto: 200,
      postgres: 2500,
    });
    const stored = {
      scenario: 'burst',
      transport: 'embedded',
      sync: 'full',
      figures: { stored: 5000 },
      process: { bridgeCpuSeconds: 2, bridgeMainCpuSeconds: 1.25, bridgeWriterCpuSeconds: 0.5 },
    } as unknown as Result;
    expect(cpuPerRecord(stored)).toEqual({ bridge: 400, main: 250, writer: 100, mosquitto: undefined, postgres: undefined });
    expect(cpuPerRecord({ ...stored, scenario: 'heartbeats' } as Result)).toBeUndefined();
  });

  it("sets the bridge's CPU per record against the relay's and the POST's added up", () => {
    const rows = againstCeilings([delivered('embedded', 'sqlite', { bridge: 30 })], [relayCpu('embedded', 300), postCpu(200)]);
    expect(rows.filter((row) => row.figure.endsWith('µs/rec')).map((row) => [row.figure, row.value, row.ceiling, row.ceilingValue, row.ratio])).toEqual([
      ['bridge CPU µs/rec', 1500, 'relay+POST CPU µs/rec', 500, 3],
    ]);
    expect(formatAgainstCeilings(rows)).toContain('delivery-burst embedded inline: bridge CPU µs/rec 1,500 vs relay+POST CPU µs/rec 500: 3.0× the ceiling');
  });

  it("counts Mosquitto's CPU with the bridge's, as the relay counts its broker, and PostgreSQL's in a second figure", () => {
    const rows = againstCeilings([delivered('mosquitto', 'postgres', { bridge: 30, mosquitto: 4, postgres: 50 })], [relayCpu('mosquitto', 300), postCpu(200)]);
    expect(rows.filter((row) => row.figure.endsWith('µs/rec')).map((row) => [row.variant, row.figure, row.value, row.ratio])).toEqual([
      ['inline, postgres', 'bridge+mosquitto CPU µs/rec', 1700, 3.4],
      ['inline, postgres', 'bridge+mosquitto+PG CPU µs/rec', 4200, 8.4],
    ]);
  });

  it("adds the images' writes to new pages to the ceiling of a SQLite burst that stores images, and to no other", () => {
    const write = (pages: 'new' | 'cached', microsPerImage: number) =>
      ({ ceiling: 'write', figures: { pages, images: 4000, imageBytes: 36_864, writeBytes: 4 * 2 ** 20, microsPerImage, perSecond: 8000 } }) as Ceiling;
    const ceilings = [relayCpu('embedded', 300), relayCpu('mosquitto', 300), postCpu(200), write('cached', 5), write('new', 100)];
    const withoutImages = {
      ...delivered('embedded', 'sqlite', { bridge: 10 }),
      figures: { images: 'none', delivered: 20_000, deliveredPerSecond: 1000 },
    } as Result;
    const bursts = [
      delivered('embedded', 'sqlite', { bridge: 30 }),
      delivered('mosquitto', 'postgres', { bridge: 30, mosquitto: 4, postgres: 50 }),
      withoutImages,
    ];
    const rows = againstCeilings(bursts, ceilings);
    expect(rows.filter((row) => row.ceiling.includes('write')).map((row) => [row.transport, row.variant, row.figure, row.ceilingValue, row.ratio])).toEqual([
      ['embedded', 'inline', 'bridge CPU µs/rec', 600, 2.5],
    ]);
    expect(formatAgainstCeilings(rows)).toContain(
      'delivery-burst embedded inline: bridge CPU µs/rec 1,500 vs relay+POST+write CPU µs/rec 600: 2.5× the ceiling',
    );
    const table = formatCeilings([write('new', 100), write('cached', 5)]).split('\n');
    expect(table[1]).toMatch(/^write\s+-\s+4 MB writes, new file\s+4,000\s+8,000(\s+-){5}\s+100\s+-$/);
    expect(table[2]).toMatch(/^write\s+-\s+4 MB writes, over it again\s+4,000\s+8,000(\s+-){5}\s+5\s+-$/);
  });

  it('leaves the CPU lines out when a side was not measured', () => {
    expect(againstCeilings([delivered('embedded', 'sqlite', { bridge: 30 })], [relayCpu('embedded', 300)]).some((row) => row.figure.endsWith('µs/rec'))).toBe(
      false,
    );
    expect(againstCeilings([delivered('embedded', 'sqlite', {})], [relayCpu('embedded', 300), postCpu(200)]).some((row) => row.figure.endsWith('µs/rec'))).toBe(
      false,
    );
  });

  it('shows the store, the CPU per record and the idle memory in the tables, and no SQLITE_SYNC for PostgreSQL', () => {
    const result = {
      scenario: 'burst',
      transport: 'embedded',
      sync: 'full',
      store: 'postgres',
      figures: { terminals: 10, records: 5000, stored: 5000, ackedPerSecond: 100, storedPerSecond: 100, storedMBPerSecond: 3.7, lost: 0, duplicates: 0 },
      process: { bridgeCpuPercent: 40, bridgeCpuSeconds: 5, postgresCpuSeconds: 10, bridgeIdleRssBytes: 95 * 2 ** 20, bridgePeakRssBytes: 250 * 2 ** 20 },
    } as unknown as Result;
    const [header, row] = formatTable([result]).split('\n');
    expect(header).toMatch(/^scenario\s+transport\s+store\s+sync\s+terminals.*CPU %\s+CPU µs\/rec\s+PG µs\/rec\s+idle MB\s+RSS MB$/);
    expect(row.split(/\s+/)).toEqual(['burst', 'embedded', 'postgres', '-', '10', '5,000', '100', '100', '3.7', '0', '0', '40', '1,000', '2,000', '95', '250']);
  });

  it("gives a burst's peak memory after its first second beside its life's peak, and none for the steady scenario", () => {
    const process = {
      bridgeCpuPercent: 110,
      bridgeCpuSeconds: 10,
      bridgeMainCpuSeconds: 5,
      bridgeWriterCpuSeconds: 3,
      bridgeIdleRssBytes: 100 * 2 ** 20,
      bridgePeakRssBytes: 165 * 2 ** 20,
    };
    const burst = {
      scenario: 'delivery-burst',
      transport: 'embedded',
      sync: 'full',
      images: 'inline',
      figures: {
        sent: 20_000,
        delivered: 20_000,
        lost: 0,
        duplicates: 0,
        ackedPerSecond: 2500,
        deliveredPerSecond: 2000,
        rssBurstBytes: 141 * 2 ** 20,
      },
      process,
    };
    const steady = {
      scenario: 'delivery-steady',
      transport: 'embedded',
      sync: 'full',
      images: 'inline',
      figures: { sent: 6000, rate: 200, lost: 0, duplicates: 0, latency: { p50Ms: 2, p99Ms: 6, maxMs: 20 } },
      process,
    };
    const [header, burstRow, steadyRow] = formatTable([burst, steady] as unknown as Result[]).split('\n');
    expect(header).toMatch(/\s+CPU µs\/rec\s+main µs\/rec\s+writer µs\/rec\s+PG µs\/rec\s+idle MB\s+RSS burst MB\s+RSS MB$/);
    // 20,000 records: 10 s of CPU is 500 µs each, 250 of them the main thread's and 150 the writer's.
    expect(burstRow.split(/\s+/).slice(-7)).toEqual(['500', '250', '150', '-', '100', '141', '165']);
    expect(steadyRow.split(/\s+/).slice(-7)).toEqual(['-', '-', '-', '-', '100', '-', '165']);
  });

  it("adds the ceilings' CPU per message to their table, and explains only the ceilings measured", () => {
    const text = formatCeilings([
      {
        ceiling: 'relay',
        transport: 'embedded',
        kind: 'image',
        figures: { records: 300, received: 300, lost: 0, perSecond: 1000, timedOut: false, cpuMicrosPerRecord: 567.4 },
      },
    ] as unknown as Ceiling[]);
    expect(text.split('\n')[1]).toMatch(/^relay\s+embedded\s+300 records, image\s+300\s+1,000(\s+-){4}\s+0\s+567\s+-$/);
    expect(text).toContain('CPU µs/msg: relay');
    expect(text).not.toMatch(/^(echo|disk|post|before):/m);
  });
});
