import type { Store } from '../store/store.js'
import { parseAlertsConfig, type AlertsConfig } from '../telemetry/alerts/config.js'
import { errorFields, type Logger } from '../telemetry/telemetry.js'

/** The store setting holding the alert rules and webhook set through `PUT /api/v1/alerts/rules`. */
export const ALERTS_SETTING = 'alerts'

/**
 * The alert rules stored by `PUT /api/v1/alerts/rules`, validated again;
 * `undefined` when none were stored or the store keeps no settings. Stored
 * rules that no longer validate (written by another version) are logged and
 * left out: the server starts without rules rather than not at all.
 */
export async function storedAlertRules(store: Store, logger: Logger): Promise<AlertsConfig | undefined> {
  const value = await store.getSetting?.(ALERTS_SETTING)
  if (value === undefined) return undefined
  try {
    return parseAlertsConfig(value, 'stored alert rules')
  } catch (e) {
    logger.warn(errorFields(e), 'the stored alert rules are not valid; starting without rules (PUT new ones)')
    return undefined
  }
}

/**
 * Stores the alert rules in force, so that the server starts with them
 * again. Returns false when the store keeps no settings (a custom `Store`):
 * the rules then last until the server stops.
 */
export async function saveAlertRules(store: Store, config: AlertsConfig): Promise<boolean> {
  if (store.putSetting === undefined) return false
  await store.putSetting(ALERTS_SETTING, config)
  return true
}
