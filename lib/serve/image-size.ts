// Reads the declared width and height of a JPEG or PNG from its header, without decoding it.

/** Declared [width, height], or undefined when the bytes are not a JPEG/PNG with a readable header. */
export function declaredSize(bytes: Buffer): [number, number] | undefined {
  if (bytes.length >= 24 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.toString('latin1', 12, 16) === 'IHDR') {
    return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
  }
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) return undefined;
    const marker = bytes[i + 1];
    if (marker === 0xff) { i++; continue; } // fill byte
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; }
    const length = bytes.readUInt16BE(i + 2);
    // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC): precision, height, width.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (i + 9 > bytes.length) return undefined;
      return [bytes.readUInt16BE(i + 7), bytes.readUInt16BE(i + 5)];
    }
    if (marker === 0xda || marker === 0xd9 || length < 2) return undefined; // scan data before any frame header
    i += 2 + length;
  }
  return undefined;
}
