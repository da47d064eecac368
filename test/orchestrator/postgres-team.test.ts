import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { defineAgent } from '../../src/agents/define-agent.js'
import type { BusEvent } from '../../src/messaging/bus.js'
import { openPostgresBus, type PostgresBus } from '../../src/messaging/postgres/postgres-bus.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { workflow } from '../../src/workflows/builder.js'
import { ROOT } from '../cli/run-cli.js'
import { describePostgres, dropSchema, freshSchema, POSTGRES_URL } from '../helpers/postgres.js'
import { ensureFreshBuild } from '../runtimes/fresh-build.js'

const SPECIALIST = join(ROOT, 'test/fixtures/team/specialist-process.mjs')

await describePostgres('agents of two orchestrators in two processes, on one PostgreSQL bus', () => {
  const schema = freshSchema()
  let child: ChildProcessWithoutNullStreams
  let bus: PostgresBus
  let o: Orchestrator

  beforeAll(async () => {
    ensureFreshBuild()
    bus = await openPostgresBus({ connectionString: POSTGRES_URL, schema, poolSize: 2 })
    o = new Orchestrator({ store: 'memory', bus, runtimes: [new InProcessRuntime()] })
    child = spawn(process.execPath, [SPECIALIST, POSTGRES_URL, schema], { stdio: 'pipe' })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => out.includes('ready') && resolve())
      child.on('exit', (code) => reject(new Error(`the specialist process exited (${code}) before it was ready`)))
    })
  }, 120_000)

  afterAll(async () => {
    child?.kill('SIGKILL')
    if (child && child.exitCode === null) await once(child, 'exit')
    await o?.close()
    await bus?.close()
    await dropSchema(schema)
  })

  it('a task consults an agent registered in another process (ctx.request) and sees its events (ctx.publish / subscribe)', async () => {
    const seen: BusEvent[] = []
    const got = new Promise<void>((resolve) => {
      void bus.subscribe('seen', undefined, (e) => {
        seen.push(e)
        resolve()
      })
    })
    await o.register(
      defineAgent({
        name: 'analyst',
        permissions: [
          { resource: 'event:finding', actions: ['publish'] },
          { resource: 'agent:specialist', actions: ['request'] },
        ],
        handler: async (claim: string, ctx) => {
          await ctx.publish('finding', { claim })
          return ctx.request('specialist', { claim }, { timeoutMs: 10_000 })
        },
      }),
    )
    const result = await o.run(
      workflow('consult').task('ask', { agent: 'analyst', input: 'bees pollinate roofs' }).build(),
    )
    expect(result.ok).toBe(true)
    expect(result.output('ask')).toEqual({ verdict: 'supported', pid: child.pid })
    await got
    expect(seen[0]).toMatchObject({
      from: 'specialist',
      data: { claim: 'bees pollinate roofs', by: 'analyst', pid: child.pid },
    })
  })
})
