// What every view of the dashboard is given (main.ts makes it): where to draw and how to move on.

export interface Page {
  nodeId: string;
  main: HTMLElement;
  navigate: (path: string) => void;
  /** Rendered again (the key changed). */
  refresh: () => void;
}
