export { generatePlantedCorpus, seededRandom, type PlantedCorpus, type PlantedCorpusOptions, type PlantedQuery } from './planted-corpus.js';
export { evaluate, type EvaluationResult } from './evaluate.js';
