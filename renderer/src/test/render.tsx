import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { StoreProvider } from '../context';
import { createAppStore } from '../store';
import type { Transport } from '../transport';

/** Renders `ui` over a store on `transport`, started like the app starts it. */
export function renderWith(ui: ReactElement, transport: Transport) {
  const store = createAppStore(transport);
  const stop = store.getState().start();
  const r = render(<StoreProvider store={store}>{ui}</StoreProvider>);
  return { ...r, store, stop };
}
