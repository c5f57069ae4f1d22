export { seededRandom, gaussianFill } from '@opal/seeded-random';
