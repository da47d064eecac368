import type { EncodedContent } from './encode.js'
import type { ArtifactInfo } from './types.js'
import type { CheckedPutOptions } from './validate.js'

/**
 * The record of a new version of an artifact, as a `ContextStore` write
 * makes it: its content's encoding, hash and size, its lineage (who, when,
 * from which version, in which run and task), its tags and metadata, and when
 * it expires (`now` + the write's TTL).
 */
export function versionRecord(
  id: string,
  version: number,
  encoded: EncodedContent,
  o: CheckedPutOptions,
  createdBy: string,
  now: number,
  basedOn: number | null,
): ArtifactInfo {
  return {
    id,
    version,
    encoding: encoded.encoding,
    contentHash: encoded.hash,
    size: encoded.bytes.byteLength,
    metadata: o.metadata,
    tags: o.tags,
    createdBy,
    createdAt: now,
    basedOn,
    runId: o.runId,
    taskId: o.taskId,
    expiresAt: o.ttlMs === undefined ? null : now + o.ttlMs,
  }
}
