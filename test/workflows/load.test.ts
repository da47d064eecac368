import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadWorkflowFile, parseWorkflow } from '../../src/workflows/load.js'

function error(fn: () => unknown): { code?: string; message: string; details?: Record<string, unknown> } {
  try {
    fn()
  } catch (e) {
    return e as { code?: string; message: string }
  }
  throw new Error('expected a throw')
}

const YAML = `
name: scan-and-fix
inputs:
  dir: { type: string, default: . }
tasks:
  - id: scan
    agent: scanner
    input: { dir: { $ref: input.dir } }
  - id: fix
    agent: fixer
    priority: HIGH
    input:
      problems: { $ref: tasks.scan.output.problems }
    when: tasks.scan.output.count > 0
`

describe('parseWorkflow', () => {
  it('parses YAML into a compiled workflow', () => {
    const wf = parseWorkflow(YAML)
    expect(wf.name).toBe('scan-and-fix')
    expect(wf.tasks.map((t) => t.id)).toEqual(['scan', 'fix'])
    expect([...wf.tasks[1].deps]).toEqual([0])
    expect(wf.tasks[1].priority).toBe('HIGH')
    expect(wf.spec.inputs).toEqual({ dir: { type: 'string', default: '.' } })
  })

  it('parses JSON text to the same workflow as the equivalent YAML', () => {
    const json = JSON.stringify(
      {
        name: 'scan-and-fix',
        inputs: { dir: { type: 'string', default: '.' } },
        tasks: [
          { id: 'scan', agent: 'scanner', input: { dir: { $ref: 'input.dir' } } },
          {
            id: 'fix',
            agent: 'fixer',
            priority: 'HIGH',
            input: { problems: { $ref: 'tasks.scan.output.problems' } },
            when: 'tasks.scan.output.count > 0',
          },
        ],
      },
      null,
      2,
    )
    const fromJson = parseWorkflow(json)
    expect(fromJson.spec).toEqual(parseWorkflow(YAML).spec)
    expect(fromJson.hash).toBe(parseWorkflow(YAML).hash)
  })

  it('names the line and column of a YAML syntax error', () => {
    const text = 'name: w\ntasks:\n  - id: a\n    agent: x\n    input: [1, 2\n  - id: b\n'
    const e = error(() => parseWorkflow(text, 'flow.yaml'))
    expect(e.code).toBe('WORKFLOW_INVALID')
    expect(e.message).toMatch(/^flow\.yaml is not valid YAML\/JSON at line \d+, column \d+/)
    const line = Number(/at line (\d+)/.exec(e.message)![1])
    expect(line).toBeGreaterThanOrEqual(5)
    expect(line).toBeLessThanOrEqual(6)
    expect(e.message).not.toContain('\n')
    expect(e.details).toMatchObject({ source: 'flow.yaml' })
  })

  it('names the line of a bad indentation', () => {
    const e = error(() => parseWorkflow('name: w\ntasks:\n  - id: a\n    agent: x\n   oops: 1\n'))
    expect(e.code).toBe('WORKFLOW_INVALID')
    expect(e.message).toContain('at line 5')
  })

  it('refuses duplicate keys, naming the line', () => {
    const e = error(() => parseWorkflow('name: w\ntasks:\n  - id: a\n    agent: x\n    agent: y\n'))
    expect(e.code).toBe('WORKFLOW_INVALID')
    expect(e.message).toContain('at line 5')
    expect(e.message.toLowerCase()).toContain('unique')
  })

  it('refuses a list, a scalar or an empty document instead of a mapping', () => {
    const list = error(() => parseWorkflow('- id: a\n  agent: x\n', 'list.yaml'))
    expect(list.code).toBe('WORKFLOW_INVALID')
    expect(list.message).toContain('list.yaml must hold a mapping with "name" and "tasks", not a list')
    expect(error(() => parseWorkflow('just text')).code).toBe('WORKFLOW_INVALID')
    expect(error(() => parseWorkflow('')).code).toBe('WORKFLOW_INVALID')
    expect(error(() => parseWorkflow('[]')).message).toContain('not a list')
  })

  it('prefixes compile errors with the source and keeps their code and details', () => {
    const e = error(() =>
      parseWorkflow(
        'name: w\ntasks:\n  - id: a\n    agent: x\n    dependsOn: [b]\n  - id: b\n    agent: x\n    dependsOn: [a]\n',
        'cyc.yaml',
      ),
    )
    expect(e.code).toBe('WORKFLOW_CYCLE')
    expect(e.message.startsWith('cyc.yaml: ')).toBe(true)
    expect(e.details).toMatchObject({ source: 'cyc.yaml', workflow: 'w' })
    expect(new Set(e.details!.cycle as string[])).toEqual(new Set(['a', 'b']))
    const schema = error(() => parseWorkflow('name: w\ntasks:\n  - id: a\n    agnet: x\n', 'typo.yaml'))
    expect(schema.code).toBe('WORKFLOW_INVALID')
    expect(schema.message).toContain('typo.yaml: ')
    expect(schema.message).toContain('"agnet"')
  })
})

describe('loadWorkflowFile', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-load-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it.each(['wf.yaml', 'wf.yml', 'WF.YAML', 'wf.json'])('reads %s', async (name) => {
    const path = join(dir, name)
    await writeFile(
      path,
      name.toLowerCase().endsWith('.json')
        ? JSON.stringify({ name: 'file', tasks: [{ id: 'a', agent: 'x' }] })
        : 'name: file\ntasks:\n  - id: a\n    agent: x\n',
    )
    const wf = await loadWorkflowFile(path)
    expect(wf.name).toBe('file')
    expect(wf.tasks).toHaveLength(1)
  })

  it('answers FILE_NOT_FOUND for a missing file, naming it', async () => {
    const path = join(dir, 'missing.yaml')
    await expect(loadWorkflowFile(path)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND', details: { path } })
    await expect(loadWorkflowFile(path)).rejects.toThrow(/missing\.yaml/)
  })

  it('answers FILE_NOT_FOUND for a folder named like a workflow', async () => {
    const path = join(dir, 'folder.yaml')
    await mkdir(path, { recursive: true })
    await expect(loadWorkflowFile(path)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' })
  })

  it('refuses another extension before reading, with WORKFLOW_INVALID', async () => {
    const path = join(dir, 'wf.txt')
    await writeFile(path, 'name: file\ntasks:\n  - id: a\n    agent: x\n')
    await expect(loadWorkflowFile(path)).rejects.toMatchObject({ code: 'WORKFLOW_INVALID' })
    await expect(loadWorkflowFile(path)).rejects.toThrow(/\.yaml, \.yml or \.json/)
    await expect(loadWorkflowFile(join(dir, 'no-extension'))).rejects.toMatchObject({ code: 'WORKFLOW_INVALID' })
  })

  it('names the file in the errors of its content', async () => {
    const path = join(dir, 'broken.yaml')
    await writeFile(path, 'name: w\ntasks:\n  - id: a\n    agent: x\n    dependsOn: [ghost]\n')
    await expect(loadWorkflowFile(path)).rejects.toMatchObject({
      code: 'WORKFLOW_UNKNOWN_DEPENDENCY',
      details: { source: path },
    })
    await expect(loadWorkflowFile(path)).rejects.toThrow(/broken\.yaml: .*"ghost"/)
  })
})
