export { CONTENT_STORE, type ContentStore } from './content-store.port.js';
export { PackContentStore } from './pack-content-store.js';
export { ContentPackWriter, readContentPack } from './content-pack-file.js';
