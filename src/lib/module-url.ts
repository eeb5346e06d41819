import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ResourceLimits, Worker } from 'node:worker_threads';

// From source (tsx) every module is a .ts file; after `npm run build` it is
// a .js file in dist/. Workers and child processes are started by file, so
// they must be named with the extension the running code has.
const EXTENSION = extname(fileURLToPath(import.meta.url));

/** The module `path` (without extension) relative to `base`, as this code runs. */
export function moduleUrl(path: string, base: string | URL): URL {
  return new URL(path + EXTENSION, base);
}

/** Node's arguments to run a module as a process of its own. */
export function nodeArgs(module: URL): string[] {
  const file = fileURLToPath(module);
  // Child processes do not inherit tsx's loader from the command line that started us.
  return EXTENSION === '.ts' ? ['--import', 'tsx', file] : [file];
}

/** A worker thread running the module, from source or built alike. */
export function startWorker(module: URL, workerData: unknown, resourceLimits?: ResourceLimits): Worker {
  if (EXTENSION !== '.ts') return new Worker(module, { workerData, resourceLimits });
  // Worker threads do not inherit tsx's loader; register it before importing the entry.
  // Resolved here, not in the worker, so it works whatever the current directory.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const bootstrap = `import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(module.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData, resourceLimits });
}
