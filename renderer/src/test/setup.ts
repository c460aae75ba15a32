// jsdom lacks a few browser APIs the UI touches; these stand-ins do nothing visible.
import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => cleanup());

if (!window.matchMedia) {
  window.matchMedia = (query: string) =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addEventListener: () => {},
      removeEventListener: () => {},
      addListener: () => {},
      removeListener: () => {},
      dispatchEvent: () => false,
    }) as MediaQueryList;
}

// A 2D context that accepts every call (jsdom has no canvas): enough for the sparklines and uPlot.
const noop = () => {};
const fakeContext = new Proxy(
  {},
  {
    get: (_t, prop) => (prop === 'measureText' ? () => ({ width: 0 }) : prop === 'canvas' ? undefined : noop),
    set: () => true,
  },
);
HTMLCanvasElement.prototype.getContext = (() => fakeContext) as unknown as HTMLCanvasElement['getContext'];

// uPlot builds its paths with Path2D, which jsdom lacks too.
if (!('Path2D' in globalThis)) {
  class FakePath2D {}
  Object.setPrototypeOf(FakePath2D.prototype, new Proxy({}, { get: () => noop }));
  Object.assign(globalThis, { Path2D: FakePath2D });
}
