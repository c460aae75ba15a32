import { createContext, type ReactNode, useContext } from 'react';
import { useStore } from 'zustand';
import type { AppStoreApi, UiStore } from './store';

const StoreContext = createContext<AppStoreApi | null>(null);

export function StoreProvider({ store, children }: { store: AppStoreApi; children: ReactNode }) {
  return <StoreContext.Provider value={store}>{children}</StoreContext.Provider>;
}

export function useStoreApi(): AppStoreApi {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useApp outside <StoreProvider>');
  return store;
}

/** A slice of the store; the component re-renders when it changes (Object.is). */
export function useApp<T>(selector: (s: UiStore) => T): T {
  return useStore(useStoreApi(), selector);
}
