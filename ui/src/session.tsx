import { createContext, useContext } from 'react'
import type { Whoami } from './types'

/** The signed-in key: who it is and its role. */
export const Session = createContext<Whoami | null>(null)

export function useSession(): Whoami {
  const s = useContext(Session)
  if (s === null) throw new Error('no session')
  return s
}
