import { arrayOf, isJsonObject, jsonColumn } from '../db/json-column.js'
import type { Permission } from './permissions.js'

/** `audit.details`: what else an audit entry records (SQL NULL: nothing). */
export const AUDIT_DETAILS = jsonColumn('audit.details', isJsonObject, 'a JSON object')

/** `api_keys.scopes`: the grants a key is narrowed to (SQL NULL: its role's). */
export const KEY_SCOPES = jsonColumn(
  'api_keys.scopes',
  arrayOf(
    (value): value is Permission =>
      isJsonObject(value) &&
      typeof value.resource === 'string' &&
      Array.isArray(value.actions) &&
      value.actions.every((a) => typeof a === 'string'),
  ),
  'an array of { resource, actions }',
)
