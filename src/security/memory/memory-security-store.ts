import { FlotillaError } from '../../core/errors.js'
import { keyNotFound, type ApiKeyRecord, type BlockRecord, type SecurityStore } from '../security-store.js'

/** Keys and blocks in memory, lost when the process exits (tests, `--store memory`). */
export class MemorySecurityStore implements SecurityStore {
  private readonly keys = new Map<string, ApiKeyRecord>()
  private readonly blocks = new Map<string, BlockRecord>()

  async insertKey(record: ApiKeyRecord): Promise<void> {
    if (this.keys.has(record.id))
      throw new FlotillaError('VALIDATION_FAILED', `An API key with id "${record.id}" exists already.`, {
        details: { keyId: record.id },
      })
    this.keys.set(record.id, structuredClone(record))
  }

  async getKey(id: string): Promise<ApiKeyRecord | undefined> {
    const found = this.keys.get(id)
    return found === undefined ? undefined : structuredClone(found)
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    return [...this.keys.values()].map((k) => structuredClone(k)).sort((a, b) => a.createdAt - b.createdAt)
  }

  async updateKey(record: ApiKeyRecord): Promise<void> {
    if (!this.keys.has(record.id)) throw keyNotFound(record.id)
    this.keys.set(record.id, structuredClone(record))
  }

  async touchKey(id: string, lastUsedAt: number): Promise<void> {
    const found = this.keys.get(id)
    if (found !== undefined) this.keys.set(id, { ...found, lastUsedAt })
  }

  async putBlock(record: BlockRecord): Promise<void> {
    this.blocks.set(record.target, { ...record })
  }

  async listBlocks(now: number): Promise<BlockRecord[]> {
    return [...this.blocks.values()].filter((b) => b.until > now).sort((a, b) => a.until - b.until)
  }

  async getBlock(target: string, now: number): Promise<BlockRecord | undefined> {
    const b = this.blocks.get(target)
    return b !== undefined && b.until > now ? { ...b } : undefined
  }

  async liftBlock(target: string, now: number): Promise<boolean> {
    const b = this.blocks.get(target)
    this.blocks.delete(target)
    return b !== undefined && b.until > now
  }
}
