import { FlotillaError } from '../core/errors.js'
import type { ArtifactHead } from './backend.js'

/*
 * The refusals of a `ContextStore`, one function per error it throws after
 * its inputs passed validation (artifact missing, expired, in conflict, a
 * version no longer kept, too many writers, a cache value refused), and the
 * expiry test they rest on.
 */

/** Whether an artifact (its head or latest version) has outlived its TTL at `now`. */
export const expired = (head: { expiresAt: number | null }, now: number): boolean =>
  head.expiresAt !== null && head.expiresAt <= now

/** `ARTIFACT_NOT_FOUND`: no artifact `id`. */
export function notFound(id: string): FlotillaError {
  return new FlotillaError(
    'ARTIFACT_NOT_FOUND',
    `No artifact "${id}" in the context store. Write it first, or check the id (list() shows the artifacts you may read).`,
    { details: { id } },
  )
}

/** `ARTIFACT_CONFLICT`: `basedOn` is not the latest version (`null`: the artifact exists). */
export function conflict(id: string, basedOn: number | null, latest: number | null): FlotillaError {
  const expected = basedOn === null ? 'not to exist yet' : `to be at version ${basedOn}`
  const actual = latest === null ? 'it does not exist' : `its latest version is ${latest}`
  return new FlotillaError(
    'ARTIFACT_CONFLICT',
    `Artifact "${id}" was expected ${expected}, but ${actual}. Read it again, reapply your change and write with basedOn: ${latest}.`,
    {
      details: { id, basedOn, latest },
    },
  )
}

/** `ARTIFACT_NOT_FOUND`: the artifact exists but `version` is not among the kept ones. */
export function versionNotKept(
  id: string,
  version: number | undefined,
  latest: number,
  keepVersions: number,
): FlotillaError {
  return new FlotillaError(
    'ARTIFACT_NOT_FOUND',
    `Artifact "${id}" has no version ${version} (the latest is ${latest}; only the last ${keepVersions} versions are kept). Read history("${id}") for the kept versions.`,
    {
      details: { id, version, latest },
    },
  )
}

/** `ARTIFACT_EXPIRED`: the artifact outlived its TTL (the caller has removed it). */
export function artifactExpired(id: string, head: ArtifactHead): FlotillaError {
  return new FlotillaError(
    'ARTIFACT_EXPIRED',
    `Artifact "${id}" expired at ${new Date(head.expiresAt ?? 0).toISOString()} and was removed. Write it anew (basedOn: null) if it is still needed.`,
    {
      details: { id, expiresAt: head.expiresAt, latest: head.latest },
    },
  )
}

/** `STORE_UNAVAILABLE` (retryable): concurrent writers moved the head under every attempt of a write. */
export function tooManyWriters(id: string, attempt: number): FlotillaError {
  return new FlotillaError(
    'STORE_UNAVAILABLE',
    `Artifact "${id}" changed under ${attempt} attempts to write it in a row; too many concurrent writers. Retry later.`,
    { details: { id, attempts: attempt }, retryable: true },
  )
}

/** `VALIDATION_FAILED`: `share` was called without its options. */
export function shareNeedsTtl(): FlotillaError {
  return new FlotillaError('VALIDATION_FAILED', 'share needs options { ttlMs }: how long the entry lives, in ms.', {
    details: { field: 'ttlMs' },
  })
}

/** `VALIDATION_FAILED`: a cache value over the size limit. */
export function cacheValueTooLarge(size: number, limit: number): FlotillaError {
  return new FlotillaError(
    'VALIDATION_FAILED',
    `The cache value is ${size} bytes as JSON, over the limit of ${limit} bytes: share less, or store it as an artifact.`,
    {
      details: { field: 'value', size, limit },
    },
  )
}
