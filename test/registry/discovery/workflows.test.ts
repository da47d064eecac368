import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { discoverWorkflows } from '../../../src/workflows/discovery.js'
import { codeOf } from '../helpers.js'
import { FIXTURES, tempDir, write } from './temp.js'

const WORKFLOWS = join(FIXTURES, 'workflows')

describe('discoverWorkflows', () => {
  let cleanup = (): void => {}
  afterEach(() => cleanup())

  it('compiles every good file and reports each bad one with its code', async () => {
    const report = await discoverWorkflows(WORKFLOWS)
    expect(report.loaded.map(({ file, workflow }) => [file.slice(WORKFLOWS.length + 1), workflow.name])).toEqual([
      ['as-json.json', 'from-json'],
      ['hello.yaml', 'hello'],
      ['nested/pipeline.yml', 'two-steps'],
    ])
    expect(report.loaded[2].workflow.tasks.map((t) => t.id)).toEqual(['first', 'second'])
    expect(report.failed.map((f) => [f.file.slice(WORKFLOWS.length + 1), f.code])).toEqual([
      ['broken.yaml', 'WORKFLOW_INVALID'],
      ['cycle.yaml', 'WORKFLOW_CYCLE'],
      ['same-name.yaml', 'WORKFLOW_INVALID'],
    ])
    expect(report.failed[0].message).toContain('line')
    expect(report.failed[2].message).toContain('already defined by')
  })

  it('honours a pattern', async () => {
    const report = await discoverWorkflows(WORKFLOWS, { pattern: 'nested/**/*.yml' })
    expect(report.loaded.map((l) => l.workflow.name)).toEqual(['two-steps'])
    expect(report.failed).toEqual([])
  })

  it('refuses a missing folder and bad options', async () => {
    const t = tempDir()
    cleanup = t.cleanup
    write(t.dir, 'a.yaml', 'name: a\ntasks:\n  - id: x\n    agent: y\n')
    expect((await discoverWorkflows(t.dir)).loaded).toHaveLength(1)
    expect(await codeOf(() => discoverWorkflows(join(t.dir, 'nope')))).toBe('FILE_NOT_FOUND')
    expect(await codeOf(() => discoverWorkflows(t.dir, { pattern: '' }))).toBe('VALIDATION_FAILED')
    expect(await codeOf(() => discoverWorkflows(t.dir, { pattern: 'a}' }))).toBe('VALIDATION_FAILED')
  })
})
