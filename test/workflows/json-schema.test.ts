import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { workflowJsonSchema } from '../../src/workflows/spec.js'

interface JsonSchema {
  type?: string | string[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  additionalProperties?: boolean | JsonSchema
  items?: JsonSchema
  enum?: unknown[]
  oneOf?: JsonSchema[]
  anyOf?: JsonSchema[]
  not?: JsonSchema
  [key: string]: unknown
}

const FILE = new URL('../../schema/workflow.schema.json', import.meta.url)

describe('workflowJsonSchema', () => {
  const schema = workflowJsonSchema() as JsonSchema
  // A tasks entry is a task or a pattern (pipeline, map-reduce, consensus).
  const [task, pattern] = schema.properties!.tasks.items!.anyOf!

  it('offers the three patterns beside plain tasks', () => {
    const kinds = (pattern.oneOf ?? pattern.anyOf ?? []).map((p) => (p.properties!.pattern as { const?: string }).const)
    expect(kinds.sort()).toEqual(['consensus', 'map-reduce', 'pipeline'])
  })

  it('is a draft 2020-12 object schema with a title and id', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema')
    expect(schema.type).toBe('object')
    expect(schema.title).toBe('Flotilla workflow')
    expect(schema.$id).toBe('https://flotilla.dev/schema/workflow.schema.json')
  })

  it('requires name and tasks and refuses unknown top-level keys', () => {
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'tasks']))
    expect(schema.additionalProperties).toBe(false)
    expect(schema.properties!.tasks.type).toBe('array')
    expect(schema.properties!.tasks.minItems).toBe(1)
  })

  it('describes every key of a valid spec, at the top and in a task', () => {
    const spec = {
      $schema: './schema/workflow.schema.json',
      name: 'n',
      version: 1,
      description: 'd',
      agents: './agents.mjs',
      inputs: { dir: { type: 'string', default: '.', required: false, description: 'x' } },
      concurrency: 2,
      defaults: { retry: { maxAttempts: 2 }, timeoutMs: 10, priority: 'LOW' },
      tasks: [
        {
          id: 'a',
          agent: 'x',
          version: '1.0.0',
          input: {},
          dependsOn: [],
          priority: 'HIGH',
          retry: {
            maxAttempts: 3,
            initialDelayMs: 1,
            multiplier: 2,
            maxDelayMs: 5,
            nonRetryableCodes: ['TASK_TIMEOUT'],
          },
          timeoutMs: 5,
          when: 'input.x',
          fallback: 'y',
          continueOnFailure: true,
          description: 'z',
        },
      ],
    }
    for (const key of Object.keys(spec)) expect(schema.properties, key).toHaveProperty([key])
    for (const key of Object.keys(spec.tasks[0])) expect(task.properties, key).toHaveProperty([key])
    expect(task.properties!.capability).toBeDefined()
    for (const key of Object.keys(spec.inputs.dir))
      expect(schema.properties!.inputs.additionalProperties as JsonSchema).toHaveProperty(['properties', key])
    for (const key of Object.keys(spec.tasks[0].retry))
      expect(task.properties!.retry.properties, key).toHaveProperty([key])
  })

  it('requires a task id, refuses unknown task keys and lists the priorities', () => {
    expect(task.type).toBe('object')
    expect(task.required).toEqual(['id'])
    expect(task.additionalProperties).toBe(false)
    expect(task.properties!.priority.enum).toEqual(['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'])
    expect(task.properties!.retry.properties!.nonRetryableCodes.items!.enum).toContain('TASK_TIMEOUT')
  })

  it('says a task names exactly one of agent or capability, as the zod schema does', () => {
    // The zod refine() is not representable; the JSON Schema must add it itself
    // (oneOf: [required agent, not capability], [required capability, not agent]),
    // or editors accept a task naming both, which compileWorkflow refuses.
    const alternatives = task.oneOf ?? task.anyOf
    expect(alternatives, 'task schema has oneOf/anyOf for agent vs capability').toBeDefined()
    const requiredSets = alternatives!.map((a) => a.required ?? [])
    expect(requiredSets).toEqual(expect.arrayContaining([['agent'], ['capability']]))
  })

  it('is what schema/workflow.schema.json holds (regenerate with `npm run build && npm run schema`)', () => {
    expect(existsSync(FILE), 'schema/workflow.schema.json exists').toBe(true)
    expect(readFileSync(FILE, 'utf8')).toBe(JSON.stringify(workflowJsonSchema(), null, 2) + '\n')
  })
})
