/** Options of `SqliteSecurityStore.open` and `SqliteAuditLogStore.open`. */
export interface SqliteSecurityOptions {
  /**
   * The database file (created with its folders when missing), or `:memory:`
   * (private to this connection). It may be, and usually is, the file of the
   * Flotilla store (`.flotilla/flotilla.db`): the security tables
   * (`flotilla_api_keys`, `flotilla_blocks`, `flotilla_audit`) sit beside the store's.
   */
  path: string
  /**
   * How long a write waits for another process's lock before failing with
   * `STORE_UNAVAILABLE`, in ms.
   * @default 5000
   */
  busyTimeoutMs?: number
}
