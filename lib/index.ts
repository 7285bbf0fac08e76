// Public API of carclass.
export { versions, setThreads, measureGemm } from './runtime';
export type { Versions } from './runtime';
export { loadAddon, loadFailureMessage, defaultThreads } from './native';
// Serving (issue 7): REST server, Grad-CAM overlays, demo backend.
export * from './serve';
