import * as crypto from 'node:crypto'

type OneShot = (algorithm: string, data: string, outputEncoding: 'hex') => string

// crypto.hash (Node ≥ 20.12) hashes without building a Hash stream: about 3× faster for short inputs.
const oneShot = (crypto as { hash?: OneShot }).hash

/** SHA-256 of `text` (UTF-8), lowercase hex. */
export function sha256Hex(text: string): string {
  return oneShot !== undefined
    ? oneShot('sha256', text, 'hex')
    : crypto.createHash('sha256').update(text, 'utf8').digest('hex')
}
