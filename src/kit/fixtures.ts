import { readdir, readFile } from 'node:fs/promises';

/** The repository's sample faces, found from this module so the CLI works from any working directory (from source and from dist/ alike). */
export const FIXTURES_DIR = new URL('../../fixtures/', import.meta.url);

const SOI = Buffer.from([0xff, 0xd8]);

/** The JPEGs of the fixtures folder, in name order (face-1.jpg first). */
export async function loadFixtures(dir: URL = FIXTURES_DIR): Promise<Buffer[]> {
  const names = (await readdir(dir)).filter((name) => /\.jpe?g$/i.test(name)).sort();
  if (names.length === 0) throw new Error(`no .jpg files in ${dir.pathname}`);
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(new URL(name, dir));
      if (!bytes.subarray(0, 2).equals(SOI)) throw new Error(`${name} is not a JPEG`);
      return bytes;
    }),
  );
}
