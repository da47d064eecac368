import { isJsonObject, isStringArray, jsonColumn } from '../db/json-column.js'
import { FlotillaError } from '../core/errors.js'
import type { ArtifactInfo } from './types.js'
import { deepFreeze } from './encode.js'

/**
 * The columns of `flotilla_ctx_versions`, the same in SQLite and PostgreSQL:
 * metadata and tags are JSON text, times wall-clock ms.
 */
export const VERSION_COLUMNS =
  'v.id, v.version, v.encoding, v.content_hash, v.size, v.metadata, v.tags, v.created_by, v.created_at, v.based_on, v.run_id, v.task_id, v.expires_at'

/** One row of `flotilla_ctx_versions` as both drivers return it. */
export interface VersionRow {
  id: string
  version: number
  encoding: string
  content_hash: string
  size: number
  metadata: string
  tags: string
  created_by: string
  created_at: number
  based_on: number | null
  run_id: string | null
  task_id: string | null
  expires_at: number | null
}

/** The parameters of an insert into `flotilla_ctx_versions`, in {@link VERSION_COLUMNS} order. */
export function versionParams(r: ArtifactInfo): (string | number | null)[] {
  return [
    r.id,
    r.version,
    r.encoding,
    r.contentHash,
    r.size,
    JSON.stringify(r.metadata),
    JSON.stringify(r.tags),
    r.createdBy,
    r.createdAt,
    r.basedOn,
    r.runId,
    r.taskId,
    r.expiresAt,
  ]
}

/** `flotilla_ctx_versions.metadata`: a JSON object. */
export const ENTRY_METADATA = jsonColumn('flotilla_ctx_versions.metadata', isJsonObject, 'a JSON object')
/** `flotilla_ctx_versions.tags`: an array of strings. */
export const ENTRY_TAGS = jsonColumn('flotilla_ctx_versions.tags', isStringArray, 'an array of strings')

/** A version row as an {@link ArtifactInfo} (metadata and tags frozen). */
export function versionFromRow(row: VersionRow): ArtifactInfo {
  if (row.encoding !== 'json' && row.encoding !== 'bytes') {
    throw new FlotillaError(
      'INTERNAL',
      `Artifact "${row.id}" version ${row.version} has an unknown encoding "${row.encoding}" in the context store.`,
      { details: { id: row.id, version: row.version } },
    )
  }
  return {
    id: row.id,
    version: Number(row.version),
    encoding: row.encoding,
    contentHash: row.content_hash,
    size: Number(row.size),
    metadata: deepFreeze(ENTRY_METADATA.decodeRequired(row.metadata, row.id)),
    tags: deepFreeze(ENTRY_TAGS.decodeRequired(row.tags, row.id)),
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    basedOn: row.based_on === null ? null : Number(row.based_on),
    runId: row.run_id,
    taskId: row.task_id,
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  }
}

/** The first id after every id that starts with `prefix` (ids use ASCII below `~`): the end of a prefix range scan. */
export function prefixEnd(prefix: string): string {
  return `${prefix}\u007f`
}
