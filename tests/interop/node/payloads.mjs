// Test payloads of exact byte sizes.

import { randomBytes } from 'node:crypto';

// One, two, three and four byte UTF-8 sequences.
const CHARS = ['a', 'Z', 'é', 'ß', '€', '中', '😀', '𝄞'];

// A valid string whose UTF-8 encoding is exactly `size` bytes, mixing sequence lengths.
export function utf8Text(size) {
  const block = [];
  let blockBytes = 0;
  while (blockBytes < Math.min(size, 65536) - 4) {
    const ch = CHARS[Math.floor(Math.random() * CHARS.length)];
    block.push(ch);
    blockBytes += Buffer.byteLength(ch);
  }
  let text = blockBytes > 0 ? block.join('').repeat(Math.floor(size / blockBytes)) : '';
  text += 'a'.repeat(size - Buffer.byteLength(text));
  if (Buffer.byteLength(text) !== size) throw new Error('utf8Text size mismatch');
  return text;
}

export function binary(size) {
  return randomBytes(size);
}
