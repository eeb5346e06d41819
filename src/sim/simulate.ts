export async function runSimulator(_args: string[]): Promise<void> {
  throw new Error('not yet');
}
