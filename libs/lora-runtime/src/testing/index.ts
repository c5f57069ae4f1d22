export { collect, type Collected } from './collect.js';
