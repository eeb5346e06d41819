import { readdir, readFile } from 'node:fs/promises';

/** The repository's sample faces, found from this module so the CLI works from any working directory. */
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

/** The same images as terminals send them, in `liveImageBase64`. */
export async function loadFixturesBase64(dir: URL = FIXTURES_DIR): Promise<string[]> {
  return (await loadFixtures(dir)).map((bytes) => bytes.toString('base64'));
}

/**
 * A copy of a JPEG with a comment segment (COM) holding `label`: the picture
 * is unchanged, the bytes are not. Two captures by a real camera never have
 * the same bytes, and the bridge treats identical records as one
 * retransmitted record, so a simulated capture must differ too.
 */
export function stampJpeg(jpeg: Buffer, label: string): Buffer {
  const text = Buffer.from(label, 'latin1').subarray(0, 65_000);
  const header = Buffer.from([0xff, 0xfe, 0, 0]);
  header.writeUInt16BE(text.length + 2, 2);
  // JFIF wants its APP0 segment right after the start marker: the comment goes after it.
  const at = jpeg[2] === 0xff && jpeg[3] === 0xe0 ? 4 + jpeg.readUInt16BE(4) : 2;
  return Buffer.concat([jpeg.subarray(0, at), header, text, jpeg.subarray(at)]);
}
