import { FlotillaError } from '../core/errors.js'

const KEY = /^[a-z][a-z0-9._-]{0,63}$/

/**
 * Checks a setting's key (1–64 lower-case letters, digits, `.`, `_`, `-`,
 * starting with a letter) and turns its value into JSON text, for
 * `Store.putSetting`; `VALIDATION_FAILED` when either is not fit.
 */
export function settingText(key: string, value: unknown): string {
  if (!KEY.test(key))
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `A setting key is 1–64 lower-case letters, digits, ".", "_" or "-", starting with a letter; got ${JSON.stringify(key)}.`,
      { details: { key } },
    )
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch {
    text = undefined
  }
  if (text === undefined)
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `The value of setting "${key}" must be JSON (no function, cycle or bigint).`,
      {
        details: { key },
      },
    )
  return text
}

/** The value of a stored setting's JSON text (`undefined` for no row). */
export function settingValue(text: string | null | undefined): unknown {
  return text === null || text === undefined ? undefined : (JSON.parse(text) as unknown)
}
