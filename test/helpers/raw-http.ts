import http from 'node:http'

/** A request sent byte for byte: the path is not normalized (`..`, `%2F` and invalid escapes reach the server as written). */
export interface RawRequest {
  readonly method: string
  /** The request target, e.g. `/api/v1/runs/..%2Fx?limit=-1`. */
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string | Uint8Array
  /** Send the body with `Transfer-Encoding: chunked` (no `Content-Length`). */
  readonly chunked?: boolean
  /** The local address to connect from (any of 127/8 on Linux loopback). */
  readonly localAddress?: string
  /** @default a new connection per request */
  readonly agent?: http.Agent
  /** @default 30 s */
  readonly timeoutMs?: number
}

/** What came back; `json` is `undefined` when the body is not JSON. */
export interface RawResponse {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly text: string
  readonly json: unknown
}

const ignore = () => {}

/**
 * Sends one HTTP/1.1 request with `node:http` (unlike `fetch`, it keeps
 * the path as given and lets a test pick the local address).
 */
export function rawRequest(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(baseUrl)
  const body = req.body === undefined ? undefined : typeof req.body === 'string' ? Buffer.from(req.body) : req.body
  const headers: Record<string, string> = { ...req.headers }
  if (body !== undefined && req.chunked !== true && !Object.keys(headers).some((h) => /^content-length$/i.test(h)))
    headers['content-length'] = String(body.byteLength)
  return new Promise((resolve, reject) => {
    let answered: RawResponse | undefined
    const r = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path,
        headers,
        agent: req.agent ?? false,
        ...(req.localAddress === undefined ? {} : { localAddress: req.localAddress }),
        timeout: req.timeoutMs ?? 30_000,
      },
      (res) => {
        // A live event stream does not end: answer with its status and headers, then hang up.
        if (String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
          answered = { status: res.statusCode ?? 0, headers: res.headers, text: '', json: undefined }
          resolve(answered)
          r.destroy()
          return
        }
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let json: unknown
          try {
            json = JSON.parse(text)
          } catch {
            json = undefined
          }
          answered = { status: res.statusCode ?? 0, headers: res.headers, text, json }
          resolve(answered)
        })
      },
    )
    r.on('timeout', () => r.destroy(new Error(`${req.method} ${req.path.slice(0, 200)}: no answer in time`)))
    // A server that answers before reading a large body may close the connection while it is still sent.
    r.on('error', (e) => {
      if (answered === undefined) reject(e)
    })
    // …and then the socket's write fails after the answer (EPIPE): nobody waits for it any more.
    r.on('socket', (s) => {
      if (!s.listeners('error').includes(ignore)) s.on('error', ignore)
    })
    if (body !== undefined) {
      if (req.chunked === true) {
        for (let i = 0; i < body.byteLength; i += 64 * 1024) r.write(body.subarray(i, i + 64 * 1024))
      } else r.write(body)
    }
    r.end()
  })
}
