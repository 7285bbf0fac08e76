// Serving: TF Serving-compatible REST server, Grad-CAM overlays, the web page's backend.
export { createServer, installShutdown } from './server';
export type { ServerOptions, ServerStats, ModelServer } from './server';
export { backendFromModel, deprocess } from './backend';
export type { ServingBackend, ServableModel, Explanation, ExplainOptions, DecodedRequestImage, SampleImage } from './backend';
export { renderOverlay, blendHeatmap, jet, resizeHeatmap } from './overlay';
export type { OverlayOptions, OverlayFormat } from './overlay';
export { createColourBackend, colourProbabilities, DEFAULT_COLOUR_CLASSES } from './demo-backend';
export type { ColourClass, ColourBackendOptions } from './demo-backend';
export { loadSampleDir, labelFromFileName } from './samples';
export { serveCommand, parseServeArgs, explainCommand, parseExplainArgs } from './commands';
export type { EngineDeps, ServeCommandOptions, ExplainCommandOptions, ExplainResult } from './commands';
