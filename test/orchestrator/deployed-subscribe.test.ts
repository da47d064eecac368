import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { BusEvent, Subscription } from '../../src/messaging/bus.js'
import { MemoryBus } from '../../src/messaging/memory-bus.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { ProcessRuntime } from '../../src/runtimes/process/process-runtime.js'
import { ROOT } from '../cli/run-cli.js'
import { CHILD_ENTRY, ensureFreshBuild } from '../runtimes/fresh-build.js'

const MODULE = join(ROOT, 'test/fixtures/team/subscriber-agents.mjs')
const CAN_SUBSCRIBE = [{ resource: 'event:finding', actions: ['subscribe'] }]

interface Seen {
  sub: string
  type: string
  from: string
  data: { severity: string; n: number }
}

/** A MemoryBus that counts the `finding` subscriptions still open, to see that none leaks. */
function countingBus(): { bus: MemoryBus; open: () => number } {
  const bus = new MemoryBus()
  const subscribe = bus.subscribe.bind(bus)
  let open = 0
  bus.subscribe = async (type, filter, handler): Promise<Subscription> => {
    const sub = await subscribe(type, filter, handler)
    if (type !== 'finding') return sub
    open++
    let ended = false
    return {
      unsubscribe: async () => {
        if (!ended) open--
        ended = true
        await sub.unsubscribe()
      },
    }
  }
  return { bus, open: () => open }
}

describe.each(['process', 'inprocess'] as const)(
  'ctx.subscribe of a spec-deployed agent on the %s runtime',
  (runtime) => {
    let o: Orchestrator
    let root: string
    let counting: ReturnType<typeof countingBus>
    const events: BusEvent[] = []

    beforeAll(() => ensureFreshBuild(), 120_000)
    beforeEach(async () => {
      root = await mkdtemp(join(tmpdir(), 'flotilla-subscribe-'))
      counting = countingBus()
      o = new Orchestrator({
        store: 'memory',
        bus: counting.bus,
        runtimes: [new ProcessRuntime({ entry: CHILD_ENTRY }), new InProcessRuntime()],
        workspaceRoot: root,
      })
      events.length = 0
      await o.bus.subscribe('*', undefined, (e) => void events.push(e))
    })
    afterEach(async () => {
      await o.close()
      await counting.bus.close()
      await rm(root, { recursive: true, force: true })
    })

    const deploy = (permissions: unknown = CAN_SUBSCRIBE) =>
      o.agents.deploy({ name: 'subscriber', module: MODULE, export: 'subscriber', runtime, permissions })
    const seen = async (id: string) => (await o.agents.execute(id, { op: 'seen' })) as Seen[]
    const finding = (severity: string, n: number) => o.bus.publish('finding', { severity, n }, { from: 'scanner' })

    it('delivers the events matching the filter to the handler until it unsubscribes', async () => {
      const a = await deploy()
      expect(a.runtime).toBe(runtime)
      await o.agents.execute(a.id, {
        op: 'subscribe',
        name: 'high',
        type: 'finding',
        filter: { where: { severity: 'high' } },
      })
      await finding('high', 1)
      await finding('low', 2)
      await finding('high', 3)
      await o.bus.publish('other', { severity: 'high', n: 0 }, { from: 'scanner' })
      await expect.poll(async () => (await seen(a.id)).length, { timeout: 5000 }).toBe(2)
      expect(await seen(a.id)).toEqual([
        { sub: 'high', type: 'finding', from: 'scanner', data: { severity: 'high', n: 1 } },
        { sub: 'high', type: 'finding', from: 'scanner', data: { severity: 'high', n: 3 } },
      ])
      expect(counting.open()).toBe(1)

      await o.agents.execute(a.id, { op: 'unsubscribe', name: 'high' })
      expect(counting.open()).toBe(0)
      // A second subscription sees event 4: once it has, the ended one would have too.
      await o.agents.execute(a.id, { op: 'subscribe', name: 'all', type: 'finding' })
      await finding('high', 4)
      await expect.poll(async () => (await seen(a.id)).length, { timeout: 5000 }).toBe(3)
      expect((await seen(a.id)).at(-1)).toEqual({
        sub: 'all',
        type: 'finding',
        from: 'scanner',
        data: { severity: 'high', n: 4 },
      })
    })

    it('a subscription without event:<type> subscribe is PERMISSION_DENIED and a permission.denied event', async () => {
      const a = await deploy([{ resource: 'event:other', actions: ['subscribe'] }])
      await expect(o.agents.execute(a.id, { op: 'subscribe', name: 'x', type: 'finding' })).rejects.toMatchObject({
        code: 'PERMISSION_DENIED',
      })
      const denied = events.find((e) => e.type === 'permission.denied')
      expect(denied?.from).toBe('subscriber')
      expect(denied?.data).toMatchObject({ resource: 'event:finding', action: 'subscribe' })
      expect(counting.open()).toBe(0)
      await finding('high', 1)
      expect(await seen(a.id)).toEqual([])
    })

    it("a failing handler goes to the agent's log; the agent keeps running", async () => {
      const a = await deploy()
      await o.agents.execute(a.id, { op: 'subscribe', name: 'bad', type: 'finding', throws: true })
      await finding('high', 1)
      await expect
        .poll(
          () =>
            events.find(
              (e) => e.type === 'log' && String((e.data as { message?: string }).message).includes('handler boom'),
            ),
          { timeout: 5000 },
        )
        .toBeDefined()
      expect((await o.agents.status(a.id)).state).toBe('RUNNING')
      expect(await o.agents.execute(a.id, { op: 'echo' })).toEqual({ echo: { op: 'echo' } })
    })

    it('terminating the agent ends its subscriptions: no bus subscription remains, later events go nowhere', async () => {
      const a = await deploy()
      await o.agents.execute(a.id, { op: 'subscribe', name: 'one', type: 'finding' })
      await o.agents.execute(a.id, {
        op: 'subscribe',
        name: 'two',
        type: 'finding',
        filter: { where: { severity: 'low' } },
      })
      expect(counting.open()).toBe(2)
      await o.agents.terminate(a.id)
      await expect.poll(() => counting.open(), { timeout: 5000 }).toBe(0)
      const before = events.length
      await finding('low', 1)
      await new Promise((r) => setTimeout(r, 50))
      expect(events.slice(before).map((e) => e.type)).toEqual(['finding'])
    })
  },
)

describe('ctx.subscribe of a process agent that fails and is restarted', () => {
  let o: Orchestrator
  let root: string
  let counting: ReturnType<typeof countingBus>

  beforeAll(() => ensureFreshBuild(), 120_000)
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'flotilla-subscribe-'))
    counting = countingBus()
    o = new Orchestrator({
      store: 'memory',
      bus: counting.bus,
      runtimes: [new ProcessRuntime({ entry: CHILD_ENTRY })],
      workspaceRoot: root,
    })
  })
  afterEach(async () => {
    await o.close()
    await counting.bus.close()
    await rm(root, { recursive: true, force: true })
  })

  it('its subscriptions end when it fails and are not back after a restart', async () => {
    const a = await o.agents.deploy({
      name: 'subscriber',
      module: MODULE,
      export: 'subscriber',
      runtime: 'process',
      permissions: CAN_SUBSCRIBE,
    })
    await o.agents.execute(a.id, { op: 'subscribe', name: 'one', type: 'finding' })
    expect(counting.open()).toBe(1)
    process.kill((await o.agents.execute(a.id, { op: 'pid' })) as number, 'SIGKILL')
    await expect.poll(async () => (await o.agents.status(a.id)).state, { timeout: 5000 }).toBe('FAILED')
    await expect.poll(() => counting.open(), { timeout: 5000 }).toBe(0)
    await o.agents.restart(a.id)
    await o.bus.publish('finding', { severity: 'high', n: 1 }, { from: 'scanner' })
    expect(counting.open()).toBe(0)
    expect(await o.agents.execute(a.id, { op: 'seen' })).toEqual([])
    await o.agents.execute(a.id, { op: 'subscribe', name: 'again', type: 'finding' })
    await o.bus.publish('finding', { severity: 'high', n: 2 }, { from: 'scanner' })
    await expect
      .poll(async () => ((await o.agents.execute(a.id, { op: 'seen' })) as Seen[]).map((s) => s.data.n), {
        timeout: 5000,
      })
      .toEqual([2])
  })

  it('a scale that replaces its process (memoryMb) ends its subscriptions: their handlers died with the old process', async () => {
    const a = await o.agents.deploy({
      name: 'subscriber',
      module: MODULE,
      export: 'subscriber',
      runtime: 'process',
      permissions: CAN_SUBSCRIBE,
    })
    await o.agents.execute(a.id, { op: 'subscribe', name: 'one', type: 'finding' })
    expect(counting.open()).toBe(1)
    await o.agents.scale(a.id, { memoryMb: 256 })
    await expect.poll(() => counting.open(), { timeout: 5000 }).toBe(0)
    expect((await o.agents.status(a.id)).state).toBe('RUNNING')
  })
})
