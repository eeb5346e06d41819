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
