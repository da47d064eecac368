import { FlotillaError, type ErrorCode } from './errors.js'

/** The deepest nesting of objects and arrays a JSON value may have. */
export const JSON_MAX_DEPTH = 1000

/** What kind of value broke the JSON rule (see {@link findJsonProblem}). */
export type JsonProblemKind =
  | 'bigint'
  | 'non-finite'
  | 'function'
  | 'symbol'
  | 'undefined'
  | 'hole'
  | 'bytes'
  | 'instance'
  | 'cycle'
  | 'too-deep'

/** The first value that breaks the JSON rule, where it is and how to fix it. */
export interface JsonProblem {
  /** The root name followed by `.key`, `["odd key"]` or `[index]` steps, like `$.items[2].n`. */
  readonly path: string
  /** The kind of value refused. */
  readonly kind: JsonProblemKind
  /** What it is, like `is a BigInt` or `is a Map object`. */
  readonly reason: string
  /** How to fix it, one sentence. */
  readonly fix: string
}

const JSON_KINDS = 'plain JSON data (objects, arrays, strings, finite numbers, booleans, null)'
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

/** A problem found deep in the walk; the steps and containers are collected while unwinding (deepest first). */
interface Found {
  kind: JsonProblemKind
  reason: string
  fix: string
  readonly steps: Array<string | number>
  readonly containers: object[]
}

function found(kind: JsonProblemKind, reason: string, fix: string): Found {
  return { kind, reason, fix, steps: [], containers: [] }
}

function primitiveProblem(value: unknown): Found | undefined {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value)
        ? undefined
        : found('non-finite', `is ${String(value)}`, 'JSON numbers must be finite: use null or a string instead.')
    case 'bigint':
      return found('bigint', 'is a BigInt', 'JSON has no BigInt: use a string (String(n)) or, if it fits, a number.')
    case 'function':
      return found('function', 'is a function', `use ${JSON_KINDS}; remove it or replace it by data.`)
    case 'symbol':
      return found('symbol', 'is a symbol', `use ${JSON_KINDS}.`)
    case 'undefined':
      return found('undefined', 'is undefined', 'JSON has no undefined: use null, or leave the key out.')
    default:
      return undefined
  }
}

function instanceProblem(obj: object): Found {
  if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) {
    return found(
      'bytes',
      `is a ${obj.constructor.name}`,
      "JSON has no bytes: encode them as a base64 string (Buffer.from(bytes).toString('base64')).",
    )
  }
  const name = (obj.constructor as { name?: unknown } | undefined)?.name
  const kind = typeof name === 'string' && name !== '' ? name : 'non-plain'
  return found(
    'instance',
    `is a ${kind} object`,
    `use ${JSON_KINDS}: convert it first (a Date with toISOString(), a Map with Object.fromEntries(map), a Set with [...set]).`,
  )
}

/** Walks `value`; returns the first problem, or `undefined`. No allocation on the success path except `Object.keys`. */
function walk(value: unknown, depth: number): Found | undefined {
  if (typeof value !== 'object')
    return typeof value === 'string' || typeof value === 'boolean' ? undefined : primitiveProblem(value)
  if (value === null) return undefined
  if (depth >= JSON_MAX_DEPTH) {
    const f = found('too-deep', `is nested deeper than ${JSON_MAX_DEPTH} levels`, 'flatten the data.')
    f.containers.push(value)
    return f
  }
  let f: Found | undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i]
      if (v === undefined && !(i in value))
        f = found('hole', 'is a hole in a sparse array', 'JSON has no holes: fill it (with null, for instance).')
      else if (typeof v !== 'string' && typeof v !== 'boolean') f = walk(v, depth + 1)
      if (f !== undefined) {
        f.steps.push(i)
        f.containers.push(value)
        return f
      }
    }
    return undefined
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return instanceProblem(value)
  const keys = Object.keys(value)
  for (let k = 0; k < keys.length; k++) {
    const v = (value as Record<string, unknown>)[keys[k]]
    // A key whose value is undefined is left out, as JSON.stringify does.
    if (v === undefined || typeof v === 'string' || typeof v === 'boolean') continue
    f = walk(v, depth + 1)
    if (f !== undefined) {
      f.steps.push(keys[k])
      f.containers.push(value)
      return f
    }
  }
  return undefined
}

function pathOf(root: string, steps: ReadonlyArray<string | number>): string {
  let path = root
  for (const s of steps)
    path += typeof s === 'number' ? `[${s}]` : IDENTIFIER.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`
  return path
}

/**
 * The first place where `value` breaks the JSON rule, or `undefined` when it
 * holds. The rule, the same for task outputs, bus payloads and artifacts:
 *
 * - accepted: `null`, booleans, strings, finite numbers (`-0` reads back as
 *   `0`), arrays of accepted values, and plain objects (prototype
 *   `Object.prototype` or `null`) whose values are accepted; a key whose
 *   value is `undefined` is left out, as `JSON.stringify` does; the same
 *   object may appear at several places (each becomes a copy);
 * - refused: BigInt, `NaN` and `±Infinity`, functions, symbols, `undefined`
 *   as a whole value or in an array, holes in sparse arrays, class instances
 *   (`Date`, `Map`, `Set`, `RegExp`, `Error`, typed arrays, `Buffer`, boxed
 *   primitives, any `new X()`), cycles, and nesting deeper than
 *   {@link JSON_MAX_DEPTH} levels.
 *
 * Symbol keys and non-enumerable properties are ignored, as by `JSON.stringify`.
 * Cheap on the success path: primitives return at once, containers are walked
 * once without building strings or a set of visited objects (a cycle shows as
 * too deep a nesting and is told apart only when reporting).
 *
 * @param root the name the path starts with (`$` unless given)
 * @example
 * ```ts
 * findJsonProblem({ items: [{ n: 1 }, { n: 10n }] })
 * // { path: '$.items[1].n', kind: 'bigint', reason: 'is a BigInt', fix: 'JSON has no BigInt: …' }
 * ```
 */
export function findJsonProblem(value: unknown, root = '$'): JsonProblem | undefined {
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return undefined
  const f = walk(value, 0)
  if (f === undefined) return undefined
  const steps = f.steps.reverse()
  if (f.kind === 'too-deep') {
    // containers[i] is the value at steps[0..i-1]; a repeated container is a back reference.
    const containers = f.containers.reverse()
    const first = new Map<object, number>()
    for (let i = 0; i < containers.length; i++) {
      if (first.has(containers[i])) {
        return {
          path: pathOf(root, steps.slice(0, i)),
          kind: 'cycle',
          reason: 'refers back to one of its parents (a cycle)',
          fix: 'JSON cannot hold cycles: use a copy without the back reference.',
        }
      }
      first.set(containers[i], i)
    }
  }
  return { path: pathOf(root, steps), kind: f.kind, reason: f.reason, fix: f.fix }
}

/** Options of {@link checkJsonValue}. */
export interface CheckJsonValueOptions {
  /**
   * The code of the error thrown.
   * @default 'VALIDATION_FAILED'
   */
  readonly code?: ErrorCode
  /**
   * The name the path starts with.
   * @default '$'
   */
  readonly root?: string
  /**
   * More details for the error (its `path` and `reason` are added).
   * @default {}
   */
  readonly details?: Readonly<Record<string, unknown>>
}

/**
 * Throws unless `value` follows the JSON rule of {@link findJsonProblem}.
 * The error (code `options.code`, `VALIDATION_FAILED` by default) names
 * `what`, the path of the first bad value and how to fix it; its details hold
 * `path` and `reason` (the {@link JsonProblemKind}).
 *
 * @example
 * ```ts
 * checkJsonValue({ at: new Date() }, 'The output of agent "x"')
 * // throws VALIDATION_FAILED: The output of agent "x" is not JSON: $.at is a Date object; use plain JSON data …
 * ```
 */
export function checkJsonValue(value: unknown, what: string, options: CheckJsonValueOptions = {}): void {
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return
  const problem = findJsonProblem(value, options.root)
  if (problem === undefined) return
  throw new FlotillaError(
    options.code ?? 'VALIDATION_FAILED',
    `${what} is not JSON: ${problem.path} ${problem.reason}; ${problem.fix}`,
    {
      details: { ...options.details, path: problem.path, reason: problem.kind },
    },
  )
}
