// leadladder: the headless API (createRanker and its error classes) and the <lead-ladder>
// element, which importing this module defines. `leadladder/ranker` is the API alone.
export {
  createRanker,
  assetsBase,
  Ranker,
  LeadLadderError,
  PolicyError,
  EngineError,
  ModelError,
  CsvError,
  RankError,
  objectsToCsv,
} from './client.js';
export { LeadLadder, TEXTS } from './widget/lead-ladder.js';
