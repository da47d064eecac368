/**
 * The form of an API key: `flt_<id>_<secret>`, a 12-character id and a
 * 32-byte base64url secret, of which only the SHA-256 is ever stored. New
 * ids and secrets, parsing a presented key, hashing a secret and comparing
 * stored hashes in constant time.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { sha256Hex } from './sha256.js'

const PREFIX = 'flt'
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'
const TOKEN = /^flt_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/

/** SHA-256 of a key's secret, lowercase hex (the only form in which it is stored). */
export function hashSecret(secret: string): string {
  return sha256Hex(secret)
}

/** `{ id, secret }` of a well-formed `flt_<id>_<secret>` key, else `undefined`. */
export function parseApiKey(key: string): { id: string; secret: string } | undefined {
  const m = TOKEN.exec(key)
  return m === null ? undefined : { id: m[1] as string, secret: m[2] as string }
}

/** The key a client presents: `flt_<id>_<secret>`. */
export function formatApiKey(id: string, secret: string): string {
  return `${PREFIX}_${id}_${secret}`
}

/** A new random key id: 12 lowercase letters or digits. */
export function newKeyId(): string {
  const bytes = randomBytes(12)
  let id = ''
  for (const b of bytes) id += ID_ALPHABET[b % ID_ALPHABET.length]
  return id
}

/** A new random secret: 32 bytes, base64url (43 characters). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url')
}

/** True when two hex hashes are equal, compared in constant time. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex')
  const y = Buffer.from(b, 'hex')
  return x.length === y.length && timingSafeEqual(x, y)
}
