import { existsSync } from 'node:fs';

/**
 * README §Configuration: a `.env` file in the working directory is read when
 * present, and a variable set in the real environment wins over the file's
 * (Node's own loader keeps what is set already).
 */
export function loadEnvFile(path = '.env'): boolean {
  if (!existsSync(path)) return false;
  process.loadEnvFile(path);
  return true;
}
