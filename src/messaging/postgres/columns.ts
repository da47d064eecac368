import { isJson, isJsonObject, jsonColumn } from '../../db/json-column.js'
import type { MessageHeaders } from '../bus.js'

/** `body` of messages and requests: the body as sent. */
export const MESSAGE_BODY = jsonColumn('messages.body', isJson, 'JSON')

/** `headers` of messages and requests: string values by name. */
export const MESSAGE_HEADERS = jsonColumn(
  'messages.headers',
  (value): value is MessageHeaders => isJsonObject(value) && Object.values(value).every((v) => typeof v === 'string'),
  'an object of string headers',
)
