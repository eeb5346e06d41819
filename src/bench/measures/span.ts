/** Marks where a scenario's load begins and ends, so what is measured around it (the bridge's CPU time) leaves out set-up. */
export interface Span {
  start(): void;
  end(): void;
}

export const noSpan: Span = { start() {}, end() {} };
