import { describe, expect, it } from 'vitest'
import { FlotillaError } from '../../src/core/errors.js'
import { classifyExit, childEnv, overLimit } from '../../src/runtimes/process/child-exit.js'
import { parseRss, parseStat } from '../../src/runtimes/process/proc-stats.js'
import {
  checkChildMessage,
  checkParentMessage,
  decodeValue,
  encodeValue,
  reviveError,
} from '../../src/runtimes/process/protocol.js'

const err = new FlotillaError('ARTIFACT_CONFLICT', 'stale', { details: { id: 'a' } }).toJSON()
const usage = { heapUsedBytes: 1, rssBytes: 2, cpuMs: 3, storageBytes: 4 }

describe('IPC protocol', () => {
  it.each([
    { type: 'ready', agent: 'a', version: '1.0.0', ...usage },
    { type: 'deploy-failed', error: err },
    { type: 'result', id: 1, output: { x: 1 } },
    { type: 'result', id: 1 }, // a handler returning undefined: JSON drops the key
    { type: 'error', id: 2, error: err },
    { type: 'call', id: 3, op: 'artifacts.get', args: { id: 'a' } },
    { type: 'event', event: { type: 'log', data: { message: 'hi' } } },
    { type: 'usage', ...usage },
    { type: 'limit', error: err },
    { type: 'protocol-error', reason: 'bad' },
  ])('accepts the child message %j', (m) => {
    expect(checkChildMessage(m)).toEqual({ ok: true, message: m })
  })

  it.each([
    [{ garbage: true }, 'type'],
    [{ type: 'result' }, 'id'],
    [{ type: 'result', id: -1 }, 'id'],
    [{ type: 'call', id: 1, op: 'rm -rf', args: {} }, 'op'],
    [{ type: 'error', id: 1, error: { ...err, code: 'NOT_A_CODE' } }, 'error.code'],
    [{ type: 'event', event: { type: '', data: {} } }, 'event.type'],
    [{ type: 'usage', heapUsedBytes: 'lots' }, 'heapUsedBytes'],
    ['a string', '(root)'],
    [null, '(root)'],
  ])('refuses the malformed child message %j, saying where', (m, where) => {
    const checked = checkChildMessage(m)
    expect(checked.ok).toBe(false)
    if (!checked.ok) expect(checked.reason).toContain(`at "${where}"`)
  })

  it('checks the parent’s messages too', () => {
    expect(checkParentMessage({ type: 'execute', id: 1, input: 1, attempt: 2 }).ok).toBe(true)
    expect(checkParentMessage({ type: 'shutdown' }).ok).toBe(true)
    expect(checkParentMessage({ type: 'limits', storageMb: null }).ok).toBe(true)
    expect(checkParentMessage({ type: 'execute', id: 1, attempt: 0 }).ok).toBe(false)
    expect(checkParentMessage({ type: 'deploy', request: { instanceId: 'x' } }).ok).toBe(false)
    expect(checkParentMessage({ type: 'cancel', id: 1, reason: 'because' }).ok).toBe(false)
  })

  it('rebuilds a serialized error as a FlotillaError with its code and details', () => {
    const e = reviveError(err)
    expect(e).toBeInstanceOf(FlotillaError)
    expect(e).toMatchObject({ code: 'ARTIFACT_CONFLICT', message: 'stale', details: { id: 'a' } })
  })

  it('carries bytes through JSON, nested, and copies nothing without bytes', () => {
    const plain = { a: [1, { b: 'x' }], c: null }
    expect(encodeValue(plain)).toBe(plain)
    const value = { a: [1, new Uint8Array([1, 2])], b: { c: Buffer.from([255]) }, d: 'x' }
    const wire = JSON.parse(JSON.stringify(encodeValue(value))) as unknown
    expect(value.a[1]).toBeInstanceOf(Uint8Array) // the original is untouched
    const back = decodeValue(wire) as { a: [number, Uint8Array]; b: { c: Uint8Array }; d: string }
    expect(Array.from(back.a[1])).toEqual([1, 2])
    expect(back.b.c).toBeInstanceOf(Uint8Array)
    expect(Array.from(back.b.c)).toEqual([255])
    expect(back.d).toBe('x')
    expect(decodeValue({ '$flotilla.bytes': 'AA==', other: 1 })).toEqual({ '$flotilla.bytes': 'AA==', other: 1 })
  })
})

describe('process watchdog helpers', () => {
  it('parses /proc/<pid>/stat, even with spaces and parentheses in the command name', () => {
    const line =
      '1234 (node (a) b) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 11 0 100 1000000 5000 18446744073709551615'
    expect(parseStat(line)).toEqual({ state: 'S', cpuMs: 3000 })
    expect(parseStat('garbage')).toBeUndefined()
    expect(parseRss('Name:\tnode\nVmRSS:\t   56320 kB\n')).toBe(56320 * 1024)
    expect(parseRss('Name:\tzombie\n')).toBe(0)
  })

  it('finds the limit a process is over', () => {
    const cap = (mb: number): number => mb * 2 * 1024 * 1024
    expect(overLimit('agt_1', { memoryMb: 10 }, cap(10) + 1, 0, cap)?.details).toMatchObject({
      limit: 'memory',
      rssLimitBytes: cap(10),
    })
    expect(overLimit('agt_1', { memoryMb: 10 }, cap(10), 0, cap)).toBeUndefined()
    expect(overLimit('agt_1', { cpuMs: 100 }, 0, 101, cap)?.details).toMatchObject({ limit: 'cpu', cpuLimitMs: 100 })
    expect(overLimit('agt_1', {}, 1e12, 1e12, cap)).toBeUndefined()
  })

  it('classifies exits: heap exhaustion, protocol, crash by code or signal', () => {
    const base = {
      instanceId: 'agt_1',
      pid: 9,
      code: null,
      signal: null,
      stderrTail: '',
      memoryMb: 64,
      heapUsedBytes: 0,
      rssBytes: 0,
    }
    expect(
      classifyExit({
        ...base,
        signal: 'SIGABRT',
        stderrTail: 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory',
      }),
    ).toMatchObject({ code: 'RESOURCE_LIMIT_EXCEEDED', details: { limit: 'memory' } })
    expect(classifyExit({ ...base, signal: 'SIGABRT', heapUsedBytes: 60 * 1024 * 1024 }).code).toBe(
      'RESOURCE_LIMIT_EXCEEDED',
    )
    expect(classifyExit({ ...base, signal: 'SIGABRT', heapUsedBytes: 1024 }).code).toBe('AGENT_CRASHED')
    expect(classifyExit({ ...base, code: 70 }).code).toBe('IPC_PROTOCOL_ERROR')
    expect(classifyExit({ ...base, code: 1, stderrTail: 'TypeError: x is undefined' })).toMatchObject({
      code: 'AGENT_CRASHED',
      reason: expect.stringContaining('exited with code 1'),
      details: { exitCode: 1, stderr: 'TypeError: x is undefined' },
    })
    expect(classifyExit({ ...base, signal: 'SIGTERM' }).reason).toContain('killed by signal SIGTERM')
  })

  it('gives the child a minimal environment without NODE_OPTIONS', () => {
    const env = childEnv({ A: '1', NODE_OPTIONS: '--max-old-space-size=99999' })
    expect(env.A).toBe('1')
    expect(env.NODE_OPTIONS).toBeUndefined()
    expect(env.PATH).toBe(process.env.PATH)
    expect(
      Object.keys(env).every((k) =>
        ['A', 'PATH', 'HOME', 'TMPDIR', 'TEMP', 'TMP', 'LANG', 'TZ', 'SystemRoot'].includes(k),
      ),
    ).toBe(true)
  })
})
