import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { resolveScaling } from '../../src/agents/scaling.js'
import { FakeClock } from '../../src/core/fake-clock.js'
import type { AgentScaledEvent } from '../../src/core/events.js'
import { Autoscaler, type ScalingTarget } from '../../src/orchestrator/autoscaler.js'
import { DeployedScaling } from '../../src/orchestrator/deployed-scaling.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { ProcessRuntime } from '../../src/runtimes/process/process-runtime.js'
import { workflow } from '../../src/workflows/builder.js'
import { ROOT } from '../cli/run-cli.js'
import { CHILD_ENTRY, ensureFreshBuild } from '../runtimes/fresh-build.js'

const MODULE = join(ROOT, 'test/fixtures/scaling/slow-agent.mjs')

/**
 * A target whose copies each take `each` of one limit, under a parent
 * holding `total`: `fit` is the sum rule; `waiting` is set by the test.
 */
function limitedTarget(max: number, each: number, total: number) {
  const state = { n: 1, waiting: 0, seq: 0, ids: ['c0'] }
  const target: ScalingTarget = {
    agent: 'copy',
    scaling: resolveScaling({ min: 1, max, cooldownMs: 1000 }, 'copy'),
    instances: () => state.ids.map((id) => ({ id, active: state.waiting > 0 ? 1 : 0, calls: 0 })),
    waiting: () => state.waiting,
    add: () => {
      state.ids.push(`c${++state.seq}`)
      return Promise.resolve()
    },
    remove: (id) => {
      state.ids = state.ids.filter((x) => x !== id)
      return Promise.resolve(true)
    },
    fit: (from, wanted) => {
      const room = Math.floor(total / each)
      return room >= wanted ? undefined : { to: Math.max(from, room), reason: `room for ${room} copies` }
    },
  }
  return { target, state }
}

describe('auto-scaling within the limits of the tree', () => {
  it('property: the copies never take more than the parent holds, and a cut or skipped scale-up says why', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 12 }),
        async (max, each, extra, demand) => {
          const total = each + extra // room for at least the first copy
          const clock = new FakeClock()
          const events: AgentScaledEvent[] = []
          const scaler = new Autoscaler({ clock, onScaled: (e) => events.push(e) })
          const { target, state } = limitedTarget(max, each, total)
          scaler.watch(target)
          for (const waiting of demand) {
            state.waiting = waiting
            await scaler.check()
            expect(state.ids.length * each).toBeLessThanOrEqual(total)
            expect(state.ids.length).toBeLessThanOrEqual(max)
            await clock.advance(1500)
          }
          scaler.stop()
          for (const e of events) {
            if (e.wanted === undefined) continue
            expect(e.wanted).toBeGreaterThan(e.to)
            expect(e.reason).toMatch(/room for \d+ copies/)
          }
          // When demand asked for more than fits, an event said so.
          const room = Math.floor(total / each)
          if (max > room && demand.some((w) => w > room)) expect(events.some((e) => e.wanted !== undefined)).toBe(true)
          // A skipped scale-up is reported once, not at every check.
          const key = (e: AgentScaledEvent) => (e.from === e.to ? `${e.from}:${e.wanted}:${e.reason}` : undefined)
          for (let i = 1; i < events.length; i++)
            if (key(events[i]) !== undefined) expect(key(events[i])).not.toBe(key(events[i - 1]))
        },
      ),
      { numRuns: 150 },
    )
  })

  it('a skipped scale-up is one event, repeated only after the count changed', async () => {
    const clock = new FakeClock()
    const events: AgentScaledEvent[] = []
    const scaler = new Autoscaler({ clock, onScaled: (e) => events.push(e) })
    const { target, state } = limitedTarget(8, 100, 150)
    scaler.watch(target)
    state.waiting = 5
    for (let i = 0; i < 5; i++) await scaler.check()
    scaler.stop()
    expect(events).toEqual([
      expect.objectContaining({
        from: 1,
        to: 1,
        wanted: 5,
        reason: expect.stringMatching(/^scale-up skipped: 5 attempts waiting.*room for 1 copies$/),
      }),
    ])
    expect(state.ids).toHaveLength(1)
  })
})

describe('DeployedScaling.fit', () => {
  const KEYS = ['memoryMb', 'cpuMs', 'storageMb'] as const
  const limits = fc.record(
    {
      memoryMb: fc.integer({ min: 1, max: 4096 }),
      cpuMs: fc.integer({ min: 1, max: 10_000 }),
      storageMb: fc.integer({ min: 1, max: 512 }),
    },
    { requiredKeys: [] },
  )

  it('property: the copies it allows, with those running, never sum over any limit the parent sets; one more would', () => {
    fc.assert(
      fc.property(
        limits,
        limits,
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 40 }),
        (parent, asked, running, wanted) => {
          // A copy asks for at most the parent's (more is refused at deploy, before scaling).
          const ask: Record<string, number> = {}
          for (const k of KEYS) if (asked[k] !== undefined) ask[k] = Math.min(asked[k]!, parent[k] ?? asked[k]!)
          const each: Record<string, number | undefined> = {}
          for (const k of KEYS) each[k] = ask[k] ?? parent[k]
          const ids = Array.from({ length: running }, (_, i) => `c${i}`)
          const supervisor = {
            limitsOf: (id: string) => (id === 'p' ? parent : ids.includes(id) ? each : undefined),
            stateOf: (id: string) => (ids.includes(id) ? 'RUNNING' : undefined),
          }
          const ds = new DeployedScaling(supervisor as never, {} as never, () => Promise.resolve())
          const scaled = {
            deployment: { name: 'copy', module: 'm.mjs', limits: ask },
            options: { parentId: 'p' },
            scaling: resolveScaling({ max: 50 }, 'copy'),
            inflight: new Map(ids.map((id) => [id, 0])),
          }
          const from = running
          const cap = ds.fit(scaled, from, wanted)
          const allowed = cap === undefined ? wanted : cap.to
          const fits = (n: number) => KEYS.every((k) => parent[k] === undefined || n * each[k]! <= parent[k]!)
          if (fits(from)) {
            if (allowed > from) expect(fits(allowed)).toBe(true)
            if (cap !== undefined) {
              expect(fits(Math.max(allowed, from) + 1)).toBe(false)
              expect(cap.reason).toMatch(
                /each copy takes (memoryMb|cpuMs|storageMb) \d+ and the parent \(p\) holds \d+/,
              )
            } else expect(fits(wanted)).toBe(true)
          }
          expect(allowed).toBeGreaterThanOrEqual(Math.min(from, wanted))
        },
      ),
      { numRuns: 500 },
    )
  })
})

describe.each(['inprocess', 'process'] as const)('deployed copies under a parent (%s runtime)', (kind) => {
  let o: Orchestrator | undefined
  let root: string | undefined
  beforeAll(() => ensureFreshBuild(), 120_000)
  afterEach(async () => {
    await o?.close()
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  })

  async function start() {
    root = await mkdtemp(join(tmpdir(), 'flotilla-tree-limits-'))
    o = new Orchestrator({
      store: 'memory',
      runtimes: [kind === 'process' ? new ProcessRuntime({ entry: CHILD_ENTRY }) : new InProcessRuntime()],
      workspaceRoot: root,
      scalingIntervalMs: 50,
    })
    const scaled: AgentScaledEvent[] = []
    o.on('agent.scaled', (e) => scaled.push(e))
    const parent = await o.agents.deploy({
      name: 'boss',
      module: MODULE,
      export: 'slow',
      runtime: kind,
      limits: { memoryMb: 256, cpuMs: 60_000 },
    })
    return { o, scaled, parent }
  }

  it('adds copies only while their limits, summed, fit the parent’s; the scale-up it cut says why', async () => {
    const { o, scaled, parent } = await start()
    await o.agents.deploy(
      {
        name: 'slow',
        module: MODULE,
        export: 'slow',
        runtime: kind,
        limits: { memoryMb: 100 },
        scaling: { min: 1, max: 4, cooldownMs: 60_000 },
      },
      { parentId: parent.id },
    )
    let most = 0
    const copies = async () =>
      (await o.agents.list()).filter((a) => a.name === 'slow' && a.state !== 'TERMINATED' && a.parentId === parent.id)
    const watch = setInterval(() => void copies().then((c) => (most = Math.max(most, c.length))), 20)
    let b = workflow('burst') as ReturnType<typeof workflow>
    for (let i = 0; i < 8; i++) b = b.task(`t${i}`, { agent: 'slow', input: { ms: 400 } }) as never
    const result = await o.run(b.build())
    clearInterval(watch)
    expect(result.state).toBe('SUCCEEDED')
    // 256 MB hold two copies of 100 MB (the cpuMs each copy inherits, 60 000, would hold only one: memoryMb is not the tightest).
    const live = await copies()
    const sum = live.reduce((n, a) => n + (a.limits.memoryMb ?? 0), 0)
    expect(sum).toBeLessThanOrEqual(256)
    expect(most).toBeLessThanOrEqual(1)
    const cut = scaled.find((e) => e.agent === 'slow' && e.wanted !== undefined)
    expect(cut).toBeDefined()
    expect(cut!.to).toBe(1)
    expect(cut!.wanted!).toBeGreaterThan(1)
    expect(cut!.reason).toMatch(
      /scale-up skipped: .*each copy takes cpuMs 60000 and the parent \(.*\) holds 60000: room for 1 copy/,
    )
  }, 90_000)

  it('copies that ask for a share of every limit the parent sets scale up to what fits; min copies that cannot fit are refused at deploy', async () => {
    const { o, scaled, parent } = await start()
    await o.agents.deploy(
      {
        name: 'slow',
        module: MODULE,
        export: 'slow',
        runtime: kind,
        limits: { memoryMb: 100, cpuMs: 20_000 },
        scaling: { min: 1, max: 4, cooldownMs: 60_000 },
      },
      { parentId: parent.id },
    )
    let b = workflow('burst') as ReturnType<typeof workflow>
    for (let i = 0; i < 8; i++) b = b.task(`t${i}`, { agent: 'slow', input: { ms: 400 } }) as never
    const result = await o.run(b.build())
    expect(result.state).toBe('SUCCEEDED')
    const live = (await o.agents.list()).filter((a) => a.name === 'slow' && a.state !== 'TERMINATED')
    expect(live).toHaveLength(2) // memoryMb: 2 × 100 ≤ 256 < 3 × 100
    const ups = scaled.filter((e) => e.agent === 'slow' && e.to > e.from)
    expect(ups[0]).toMatchObject({ from: 1, to: 2 })
    expect(ups[0]!.wanted!).toBeGreaterThan(2)
    expect(ups[0]!.reason).toMatch(/each copy takes memoryMb 100 and the parent \(.*\) holds 256: room for 2 copies/)

    const refused = await o.agents
      .deploy(
        {
          name: 'wide',
          module: MODULE,
          export: 'slow',
          runtime: kind,
          limits: { memoryMb: 100 },
          scaling: { min: 3, max: 4 },
        },
        { parentId: parent.id },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(refused).toMatchObject({ code: 'RESOURCE_LIMIT_EXCEEDED', details: { field: 'scaling.min' } })
    expect((await o.agents.list()).filter((a) => a.name === 'wide')).toEqual([])
  }, 90_000)
})
