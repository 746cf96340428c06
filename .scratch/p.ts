import { loadFhirDefinitions } from '../src/core/fhir-definitions.js';
const d = loadFhirDefinitions();
for (const [t, c] of [['Observation','subject'],['Observation','performer'],['Observation','encounter'],['MedicationRequest','medication'],['MedicationRequest','requester'],['Provenance','target'],['Provenance','patient'],['Provenance','agent'],['Claim','patient'],['ExplanationOfBenefit','patient'],['ImagingStudy','patient'],['Medication','code'],['Condition','asserted-date'],['Patient','_id'],['Patient','_lastUpdated'],['DiagnosticReport','result'],['Goal','description'],['Encounter','practitioner'],['Patient','general-practitioner'],['Patient','organization'], ['Encounter','subject'], ['Procedure','subject']]) {
  console.log(t, c, JSON.stringify(d.searchParam(t, c)));
}
console.log(d.patientCompartmentParams('Observation'), d.patientCompartmentParams('Provenance'), d.patientCompartmentParams('Patient'), d.patientCompartmentParams('Medication'));
