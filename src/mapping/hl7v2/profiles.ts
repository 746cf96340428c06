/** US Core 6.1.0 profiles claimed in meta.profile by what this mapper produces. */
const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition';

export const PROFILES = {
  Patient: `${US_CORE}/us-core-patient`,
  Encounter: `${US_CORE}/us-core-encounter`,
  Location: `${US_CORE}/us-core-location`,
  Practitioner: `${US_CORE}/us-core-practitioner`,
  Organization: `${US_CORE}/us-core-organization`,
  ObservationLab: `${US_CORE}/us-core-observation-lab`,
  ObservationClinicalResult: `${US_CORE}/us-core-observation-clinical-result`,
  ObservationSimple: `${US_CORE}/us-core-simple-observation`,
  DiagnosticReportLab: `${US_CORE}/us-core-diagnosticreport-lab`,
  DiagnosticReportNote: `${US_CORE}/us-core-diagnosticreport-note`,
  MedicationRequest: `${US_CORE}/us-core-medicationrequest`,
  Medication: `${US_CORE}/us-core-medication`,
  Immunization: `${US_CORE}/us-core-immunization`,
  AllergyIntolerance: `${US_CORE}/us-core-allergyintolerance`,
  ConditionEncounterDiagnosis: `${US_CORE}/us-core-condition-encounter-diagnosis`,
  Procedure: `${US_CORE}/us-core-procedure`,
  DocumentReference: `${US_CORE}/us-core-documentreference`,
  Provenance: `${US_CORE}/us-core-provenance`,
} as const;
