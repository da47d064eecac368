import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

/** The fixture folder of discovery tests. */
export const FIXTURES = join(ROOT, 'test/fixtures/discovery')

/** A fresh temporary folder and its cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-discovery-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Writes `text` at `dir/name`, creating folders. */
export function write(dir: string, name: string, text: string): string {
  const file = join(dir, name)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, text)
  return file
}

/** The import line of `defineAgent` for a module written outside the source tree. */
export const IMPORT = `import { defineAgent } from '${pathToFileURL(join(ROOT, 'src/agents/define-agent.ts')).href}'\n`

/** Module text exporting one agent `name@version` whose handler returns `result`. */
export function agentModule(name: string, version: string, result: string, extra = ''): string {
  return `${IMPORT}export const a = defineAgent({ name: '${name}', version: '${version}', handler: () => ${JSON.stringify(result)}${extra} })\n`
}
