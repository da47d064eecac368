import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const root = new URL('../../', import.meta.url)

describe('README quick start', () => {
  it('is the same code as examples/quick-start/hello.mjs', () => {
    const readme = readFileSync(new URL('README.md', root), 'utf8')
    const block = /## Quick start[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1]
    expect(block).toBeDefined()
    expect(readFileSync(new URL('examples/quick-start/hello.mjs', root), 'utf8')).toBe(block)
  })

  it('runs as pasted and prints the written summary', () => {
    const out = execFileSync(process.execPath, ['examples/quick-start/hello.mjs'], { cwd: root, encoding: 'utf8' })
    expect(out).toContain("SUCCEEDED { text: 'flotilla is a word. flotilla has 8 letters.' }")
    expect(out).toMatch(/^1 \{ tasks: \[ 'fetch', 'write' \]/m)
  })
})
