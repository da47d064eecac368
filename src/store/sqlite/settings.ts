import type Database from 'better-sqlite3'
import { settingText, settingValue } from '../settings.js'

/** The `settings` table of a {@link SqliteStore} (store migration 8): named JSON values. Errors are left to the store to map. */
export class SqliteSettings {
  private readonly select: Database.Statement<[string], { value: string }>
  private readonly upsert: Database.Statement<[string, string, number]>

  constructor(db: Database.Database) {
    this.select = db.prepare('SELECT value FROM settings WHERE key = ?')
    this.upsert = db.prepare(
      'INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
    )
  }

  get(key: string): unknown {
    return settingValue(this.select.get(key)?.value)
  }

  put(key: string, value: unknown): void {
    this.upsert.run(key, settingText(key, value), Date.now())
  }
}
