import { FlotillaError } from '../core/errors.js'
import { parseRef, refResolver, type ParsedRef, type Resolver, type ValueSource } from './refs.js'

/** A compiled condition. */
export type Condition = (values: ValueSource) => boolean

type Node =
  | { k: 'lit'; v: unknown }
  | { k: 'ref'; ref: ParsedRef }
  | { k: 'not'; a: Node }
  | { k: 'and' | 'or'; a: Node; b: Node }
  | { k: 'cmp'; op: '==' | '!=' | '>' | '>=' | '<' | '<='; a: Node; b: Node }

const TOKEN =
  /\s*(?:(\d+(?:\.\d+)?)|('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(==|!=|>=|<=|&&|\|\||[><!()])|([A-Za-z_$][A-Za-z0-9_$.-]*))/y

/**
 * Parses a condition such as `tasks.scan.output.count > 0 && input.apply`.
 * Operands are references (`input.…`, `tasks.<id>.output.…`) or literals
 * (numbers, quoted strings, `true`, `false`, `null`); operators are
 * `== != > >= < <= && || !` and parentheses. A bare reference is tested for
 * truthiness.
 */
export function parseCondition(
  text: string,
  where: string,
): { refs: ParsedRef[]; compile(indexOf: (id: string) => number): Condition } {
  const tokens: string[] = []
  const fail = (why: string): never => {
    throw new FlotillaError('WORKFLOW_BAD_REFERENCE', `${where}: condition "${text}" ${why}.`, {
      details: { where, condition: text },
    })
  }
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < text.length) {
    if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) break
    const at = TOKEN.lastIndex + /^\s*/.exec(text.slice(TOKEN.lastIndex))![0].length
    const m = TOKEN.exec(text)
    if (!m) fail(`has an unexpected character at position ${at + 1}`)
    tokens.push(m![0].trim())
  }
  let pos = 0
  const refs: ParsedRef[] = []
  const peek = (): string | undefined => tokens[pos]
  const primary = (): Node => {
    const t = tokens[pos++]
    if (t === undefined) return fail('ends too early')
    if (t === '(') {
      const e = or()
      if (tokens[pos++] !== ')') fail('is missing a ")"')
      return e
    }
    if (/^\d/.test(t)) return { k: 'lit', v: Number(t) }
    if (t[0] === '"' || t[0] === "'") return { k: 'lit', v: t.slice(1, -1).replace(/\\(.)/g, '$1') }
    if (t === 'true' || t === 'false') return { k: 'lit', v: t === 'true' }
    if (t === 'null') return { k: 'lit', v: null }
    if (/^[A-Za-z_$]/.test(t)) {
      const ref = parseRef(t, where)
      refs.push(ref)
      return { k: 'ref', ref }
    }
    return fail(`has "${t}" where a value was expected`)
  }
  const not = (): Node => (peek() === '!' ? (pos++, { k: 'not', a: not() }) : cmp())
  const cmp = (): Node => {
    const a = primary()
    const op = peek()
    if (op === '==' || op === '!=' || op === '>' || op === '>=' || op === '<' || op === '<=') {
      pos++
      return { k: 'cmp', op, a, b: primary() }
    }
    return a
  }
  const and = (): Node => {
    let a = not()
    while (peek() === '&&') {
      pos++
      a = { k: 'and', a, b: not() }
    }
    return a
  }
  const or = (): Node => {
    let a = and()
    while (peek() === '||') {
      pos++
      a = { k: 'or', a, b: and() }
    }
    return a
  }
  if (tokens.length === 0) fail('is empty')
  const root = or()
  if (pos < tokens.length) fail(`has "${tokens[pos]}" left over`)
  return {
    refs,
    compile(indexOf) {
      const ev = (n: Node): Resolver => {
        switch (n.k) {
          case 'lit':
            return () => n.v
          case 'ref':
            return refResolver(n.ref, indexOf)
          case 'not': {
            const a = ev(n.a)
            return (s) => !a(s)
          }
          case 'and': {
            const a = ev(n.a),
              b = ev(n.b)
            return (s) => Boolean(a(s)) && Boolean(b(s))
          }
          case 'or': {
            const a = ev(n.a),
              b = ev(n.b)
            return (s) => Boolean(a(s)) || Boolean(b(s))
          }
          case 'cmp': {
            const a = ev(n.a),
              b = ev(n.b)
            switch (n.op) {
              case '==':
                return (s) => a(s) === b(s)
              case '!=':
                return (s) => a(s) !== b(s)
              case '>':
                return (s) => (a(s) as number) > (b(s) as number)
              case '>=':
                return (s) => (a(s) as number) >= (b(s) as number)
              case '<':
                return (s) => (a(s) as number) < (b(s) as number)
              case '<=':
                return (s) => (a(s) as number) <= (b(s) as number)
            }
          }
        }
      }
      const f = ev(root)
      return (s) => Boolean(f(s))
    },
  }
}
