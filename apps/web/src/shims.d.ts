declare module 'asciinema-player' {
  export function create(
    source: string | { data: string },
    element: HTMLElement,
    options?: Record<string, unknown>,
  ): { dispose(): void };
}
