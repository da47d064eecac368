import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { isFlotillaError } from '../../src/core/errors.js'
import type { BusEvent } from '../../src/messaging/bus.js'
import { Orchestrator } from '../../src/orchestrator/orchestrator.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { ProcessRuntime } from '../../src/runtimes/process/process-runtime.js'
import { NO_GRANT } from '../../src/security/permissions.js'
import { SINK } from '../contract/runtime.contract.js'
import { CHILD_ENTRY, ensureFreshBuild } from '../runtimes/fresh-build.js'

/** Each kind of denied access: the command that tries it, and the resource and action refused. */
const ACCESSES: Array<[string, Record<string, unknown>, string, string]> = [
  ['tool', { op: 'tool', name: 'upper', input: { text: 'a' } }, 'tool:upper', 'call'],
  ['file', { op: 'write', path: 'notes/a.txt', text: 'x' }, 'file:notes/a.txt', 'write'],
  ['artifact', { op: 'put-bytes', id: 'report', bytes: [1] }, 'artifact:report', 'write'],
  ['cache', { op: 'cache-get', key: 'shared-key' }, 'cache:shared-key', 'read'],
  ['message', { op: 'send', to: 'someone', body: 1 }, 'agent:someone', 'send'],
]

describe.each(['inprocess', 'process'] as const)(
  'PERMISSION_DENIED has one shape for every kind of access (%s runtime)',
  (runtime) => {
    let o: Orchestrator
    let root: string
    const events: BusEvent[] = []

    beforeAll(() => ensureFreshBuild(), 120_000)
    beforeEach(async () => {
      root = await mkdtemp(join(tmpdir(), 'flotilla-denied-'))
      o = new Orchestrator({
        store: 'memory',
        runtimes: [new ProcessRuntime({ entry: CHILD_ENTRY }), new InProcessRuntime()],
        workspaceRoot: root,
      })
      events.length = 0
      await o.bus.subscribe('permission.denied', undefined, (e) => void events.push(e))
    })
    afterEach(async () => {
      await o.close()
      await rm(root, { recursive: true, force: true })
    })

    it('details are { agent: its name, resource, action, reason }, and the event reason is the same clause', async () => {
      const agent = await o.agents.deploy({
        name: 'kitchen-sink',
        module: SINK,
        export: 'default',
        runtime,
        tools: ['upper'],
        toolsModule: SINK,
        permissions: [{ resource: 'file:other/**', actions: ['read'] }],
      })
      for (const [kind, command, resource, action] of ACCESSES) {
        const err = await o.agents.execute(agent.id, command).then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(isFlotillaError(err), kind).toBe(true)
        if (!isFlotillaError(err)) continue
        expect(err.code, kind).toBe('PERMISSION_DENIED')
        expect(err.details, kind).toStrictEqual({ agent: 'kitchen-sink', resource, action, reason: NO_GRANT })
        expect(err.message, kind).toMatch(
          new RegExp(`^kitchen-sink may not ${action} "${resource}": ${NO_GRANT}\\. Add `),
        )
      }
      await expect.poll(() => events.length).toBe(ACCESSES.length)
      for (const [i, [kind, , resource, action]] of ACCESSES.entries()) {
        expect(events[i].from, kind).toBe('kitchen-sink')
        expect(events[i].data, kind).toMatchObject({ resource, action, reason: NO_GRANT })
      }
    })
  },
)
