/**
 * Declarative mappings for the organization's own exports (config/mappings/*.yaml): load, read, map.
 * The language is documented in docs/record-mappings.md; config/mappings/clinic.yaml is the worked example.
 */
export { listMappings, loadMapping, parseMapping } from './load.js';
export { MappingConfigError, type RecordMapping, type RecordSet, type ResourceRule, type FieldRule, type InputFormat } from './model.js';
export { readRecords, readRows, setForFile, type Row } from './read.js';
export { mapRecord, type MapDeps } from './map.js';
export { mapFile, mapQueuedRecord, isRecordFailure, type RecordFailure } from './map-file.js';
