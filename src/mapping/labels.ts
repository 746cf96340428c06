/**
 * HL7 DS4P security labels on ingest: rules in config/labels map codes (diagnoses, medications,
 * lab tests, procedures) to sensitivity labels (ETH, PSY, HIV, SEX, STD, GDIS, ...) and a
 * confidentiality level; every stored resource gets exactly one confidentiality label.
 * Implementation in ./labels/; see docs/security-labels.md for the rules and their limits.
 */
export { createLabeler, loadLabeler, applyLabels, type RuleLabeler, type RuleSource } from './labels/labeler.js';
export { LabelRuleError, compileRules, matchCoding, readRuleFiles, type CompiledRules, type LabelMatch, type RuleFile } from './labels/rules.js';
export { INSPECTED_ELEMENTS } from './labels/elements.js';
export {
  CONFIDENTIALITY_ORDER,
  SEC_LABEL_BASIS_URL,
  SENSITIVITY_DISPLAY,
  type ConfidentialityCode,
} from './labels/vocabulary.js';
