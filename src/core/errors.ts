import { ERROR_CODES, type ErrorCode } from './error-codes.js'

export { ERROR_CODES } from './error-codes.js'
export type { ErrorCode } from './error-codes.js'

/** JSON-safe detail values attached to an error. */
export type ErrorDetails = Readonly<Record<string, unknown>>

const BRAND = Symbol.for('flotilla.error')

/** Options accepted by the {@link FlotillaError} constructor. */
export interface FlotillaErrorOptions {
  /** JSON-safe facts about the failure (field names, ids, limits). */
  details?: ErrorDetails
  /** The underlying error, if any. */
  cause?: unknown
  /** Overrides the table's retryable flag for this one error. */
  retryable?: boolean
}

/**
 * The one error type Flotilla throws. Recognise it with {@link isFlotillaError}
 * (a brand that survives process boundaries and duplicate package copies),
 * and branch on `code`, never on the message.
 *
 * @example
 * ```ts
 * throw new FlotillaError('AGENT_NOT_FOUND', 'No agent "scanner": register it before running.', { details: { agent: 'scanner' } })
 * ```
 */
export class FlotillaError extends Error {
  /** The stable code. */
  readonly code: ErrorCode
  /** HTTP status for this code. */
  readonly status: number
  /** Whether retrying the operation can succeed. */
  readonly retryable: boolean
  /** JSON-safe details. */
  readonly details: ErrorDetails

  constructor(code: ErrorCode, message: string, options: FlotillaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'FlotillaError'
    this.code = code
    this.status = ERROR_CODES[code].status
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable
    this.details = options.details ?? {}
    Object.defineProperty(this, BRAND, { value: true })
  }

  /** A JSON-safe view: code, message, details, retryable. */
  toJSON(): SerializedError {
    return { code: this.code, message: this.message, details: this.details, retryable: this.retryable }
  }
}

/** The JSON form of an error as stored and sent over the wire. */
export interface SerializedError {
  code: ErrorCode
  message: string
  details: ErrorDetails
  retryable: boolean
}

/**
 * True when `value` is a {@link FlotillaError} from any copy of the package.
 *
 * @example
 * ```ts
 * if (isFlotillaError(err) && err.code === 'TASK_TIMEOUT') retryLater()
 * ```
 */
export function isFlotillaError(value: unknown): value is FlotillaError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
}

/** True when `code` is one of the codes of the table. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code)
}

/**
 * Turns anything thrown (an Error, a string, `undefined`…) into a
 * {@link FlotillaError}, keeping an existing one as it is.
 *
 * @example
 * ```ts
 * const err = toFlotillaError(thrown, 'TASK_FAILED')
 * ```
 */
export function toFlotillaError(value: unknown, fallbackCode: ErrorCode = 'INTERNAL'): FlotillaError {
  if (isFlotillaError(value)) return value
  if (value instanceof Error) {
    return new FlotillaError(fallbackCode, value.message || value.name, { cause: value, details: { name: value.name } })
  }
  let text: string
  try {
    text = typeof value === 'string' ? value : (JSON.stringify(value) ?? safeText(value))
  } catch {
    text = safeText(value)
  }
  return new FlotillaError(
    fallbackCode,
    `A non-Error value was thrown: ${text}. Throw an Error instance so the failure keeps a stack.`,
    {
      details: { thrownType: value === null ? 'null' : typeof value },
    },
  )
}

/**
 * Marks an error as not worth retrying: a task whose handler throws the result
 * fails at once with `TASK_NON_RETRYABLE`, whatever its retry policy says.
 *
 * @example
 * ```ts
 * if (!valid) throw nonRetryable(new Error('The document is not UTF-8'))
 * ```
 */
export function nonRetryable(error: unknown): FlotillaError {
  const message = error instanceof Error ? error.message : safeText(error)
  return new FlotillaError('TASK_NON_RETRYABLE', message, { cause: error, retryable: false })
}

/** Serialises any error to the stored JSON form. */
export function serializeError(value: unknown): SerializedError {
  const e = toFlotillaError(value)
  const code = isErrorCode(e.code) ? e.code : 'INTERNAL'
  return {
    code,
    message: String(e.message),
    details: e.details ?? {},
    retryable: typeof e.retryable === 'boolean' ? e.retryable : ERROR_CODES[code].retryable,
  }
}

function safeText(value: unknown): string {
  try {
    return String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

/** Rebuilds a {@link FlotillaError} from its stored JSON form. */
export function deserializeError(value: SerializedError): FlotillaError {
  const code = isErrorCode(value.code) ? value.code : 'INTERNAL'
  return new FlotillaError(code, value.message, { details: value.details, retryable: value.retryable })
}
