/**
 * US Core 6.1.0 server requirements for the resource types this gateway serves, extracted from
 * CapabilityStatement-us-core-server.json (hl7.fhir.us.core#6.1.0). Static so the gateway never reads the
 * IG package at run time; test/fhir/us-core-search.test.ts re-derives it from the package when present.
 * See: https://hl7.org/fhir/us/core/STU6.1/CapabilityStatement-us-core-server.html
 *
 * Generated; edit by regenerating, not by hand.
 */

export type UsCoreParamType = 'token' | 'reference' | 'date' | 'string' | 'quantity' | 'number' | 'uri';
export type Expectation = 'SHALL' | 'SHOULD' | 'MAY';

export interface UsCoreSearchParam {
  name: string;
  type: UsCoreParamType;
  /** Canonical URL of the US Core SearchParameter. */
  definition: string;
  expectation: Expectation;
}

export interface UsCoreResource {
  type: string;
  supportedProfile: readonly string[];
  searchParam: readonly UsCoreSearchParam[];
  /** Search parameter combinations the IG names (each entry: the required parameter names). */
  combinations: ReadonlyArray<{ expectation: Expectation; required: readonly string[] }>;
  searchInclude: readonly string[];
  searchRevInclude: readonly string[];
}

export const US_CORE_SERVER_CAPABILITY = 'http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server|6.1.0';

export const US_CORE_RESOURCES: readonly UsCoreResource[] = [
  {
    type: 'Patient',
    supportedProfile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'],
    searchParam: [
      { name: '_id', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-patient-id', expectation: 'SHALL' },
      { name: 'birthdate', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-patient-birthdate', expectation: 'MAY' },
      { name: 'death-date', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-patient-death-date', expectation: 'MAY' },
      { name: 'family', type: 'string', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-patient-family', expectation: 'MAY' },
      { name: 'gender', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-patient-gender', expectation: 'MAY' },
      { name: 'given', type: 'string', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-patient-given', expectation: 'MAY' },
      { name: 'identifier', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-patient-identifier', expectation: 'SHALL' },
      { name: 'name', type: 'string', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-patient-name', expectation: 'SHALL' },
    ],
    combinations: [
      { expectation: 'SHOULD', required: ['birthdate', 'family'] },
      { expectation: 'SHOULD', required: ['family', 'gender'] },
      { expectation: 'SHALL', required: ['birthdate', 'name'] },
      { expectation: 'SHALL', required: ['gender', 'name'] },
      { expectation: 'SHOULD', required: ['death-date', 'family'] },
    ],
    searchInclude: [],
    searchRevInclude: ['Provenance:target'],
  },
  {
    type: 'Observation',
    supportedProfile: [
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-lab',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-pregnancystatus',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-pregnancyintent',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-occupation',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-respiratory-rate',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-simple-observation',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-heart-rate',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-body-temperature',
      'http://hl7.org/fhir/us/core/StructureDefinition/pediatric-weight-for-height',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-pulse-oximetry',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-smokingstatus',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-sexual-orientation',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-head-circumference',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-body-height',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-bmi',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-screening-assessment',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-clinical-result',
      'http://hl7.org/fhir/us/core/StructureDefinition/pediatric-bmi-for-age',
      'http://hl7.org/fhir/us/core/StructureDefinition/head-occipital-frontal-circumference-percentile',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-body-weight',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-vital-signs',
    ],
    searchParam: [
      { name: 'status', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-observation-status', expectation: 'MAY' },
      { name: 'category', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-observation-category', expectation: 'MAY' },
      { name: 'code', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-observation-code', expectation: 'MAY' },
      { name: 'date', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-observation-date', expectation: 'MAY' },
      { name: 'patient', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-observation-patient', expectation: 'MAY' },
    ],
    combinations: [
      { expectation: 'SHOULD', required: ['patient', 'code', 'date'] },
      { expectation: 'SHOULD', required: ['patient', 'category', 'status'] },
      { expectation: 'SHALL', required: ['patient', 'category', 'date'] },
      { expectation: 'SHALL', required: ['patient', 'category'] },
      { expectation: 'SHALL', required: ['patient', 'code'] },
    ],
    searchInclude: [],
    searchRevInclude: ['Provenance:target'],
  },
  {
    type: 'Condition',
    supportedProfile: [
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-condition-encounter-diagnosis',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-condition-problems-health-concerns',
    ],
    searchParam: [
      { name: 'category', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-condition-category', expectation: 'MAY' },
      { name: 'clinical-status', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-condition-clinical-status', expectation: 'MAY' },
      { name: 'patient', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-condition-patient', expectation: 'SHALL' },
      { name: 'onset-date', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-condition-onset-date', expectation: 'MAY' },
      { name: 'asserted-date', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-condition-asserted-date', expectation: 'MAY' },
      { name: 'recorded-date', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-condition-recorded-date', expectation: 'MAY' },
      { name: 'abatement-date', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-condition-abatement-date', expectation: 'MAY' },
      { name: 'code', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-condition-code', expectation: 'MAY' },
      { name: 'encounter', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-condition-encounter', expectation: 'MAY' },
    ],
    combinations: [
      { expectation: 'SHOULD', required: ['patient', 'recorded-date'] },
      { expectation: 'SHOULD', required: ['patient', 'asserted-date'] },
      { expectation: 'SHOULD', required: ['patient', 'category', 'clinical-status'] },
      { expectation: 'SHOULD', required: ['patient', 'onset-date'] },
      { expectation: 'SHOULD', required: ['patient', 'abatement-date'] },
      { expectation: 'SHOULD', required: ['patient', 'clinical-status'] },
      { expectation: 'SHOULD', required: ['patient', 'category', 'encounter'] },
      { expectation: 'SHOULD', required: ['patient', 'code'] },
      { expectation: 'SHALL', required: ['patient', 'category'] },
    ],
    searchInclude: [],
    searchRevInclude: ['Provenance:target'],
  },
  {
    type: 'MedicationRequest',
    supportedProfile: [
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-medicationrequest',
    ],
    searchParam: [
      { name: 'status', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-medicationrequest-status', expectation: 'MAY' },
      { name: 'intent', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-medicationrequest-intent', expectation: 'MAY' },
      { name: 'patient', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-medicationrequest-patient', expectation: 'MAY' },
      { name: 'encounter', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-medicationrequest-encounter', expectation: 'MAY' },
      { name: 'authoredon', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-medicationrequest-authoredon', expectation: 'MAY' },
    ],
    combinations: [
      { expectation: 'SHOULD', required: ['patient', 'intent', 'encounter'] },
      { expectation: 'SHALL', required: ['patient', 'intent', 'status'] },
      { expectation: 'SHOULD', required: ['patient', 'intent', 'authoredon'] },
      { expectation: 'SHALL', required: ['patient', 'intent'] },
    ],
    searchInclude: ['MedicationRequest:medication'],
    searchRevInclude: ['Provenance:target'],
  },
  {
    type: 'AllergyIntolerance',
    supportedProfile: [
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-allergyintolerance',
    ],
    searchParam: [
      { name: 'clinical-status', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-allergyintolerance-clinical-status', expectation: 'MAY' },
      { name: 'patient', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-allergyintolerance-patient', expectation: 'SHALL' },
    ],
    combinations: [
      { expectation: 'SHOULD', required: ['patient', 'clinical-status'] },
    ],
    searchInclude: [],
    searchRevInclude: ['Provenance:target'],
  },
  {
    type: 'Encounter',
    supportedProfile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-encounter'],
    searchParam: [
      { name: '_id', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-encounter-id', expectation: 'SHALL' },
      { name: 'class', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-encounter-class', expectation: 'MAY' },
      { name: 'date', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-encounter-date', expectation: 'MAY' },
      { name: 'identifier', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-encounter-identifier', expectation: 'SHOULD' },
      { name: 'patient', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-encounter-patient', expectation: 'SHALL' },
      { name: 'location', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-encounter-location', expectation: 'MAY' },
      { name: 'status', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-encounter-status', expectation: 'MAY' },
      { name: 'type', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-encounter-type', expectation: 'MAY' },
      { name: 'discharge-disposition', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-encounter-discharge-disposition', expectation: 'MAY' },
    ],
    combinations: [
      { expectation: 'SHOULD', required: ['patient', 'type'] },
      { expectation: 'SHOULD', required: ['class', 'patient'] },
      { expectation: 'SHOULD', required: ['patient', 'status'] },
      { expectation: 'SHALL', required: ['date', 'patient'] },
      { expectation: 'SHOULD', required: ['patient', 'location'] },
      { expectation: 'SHOULD', required: ['patient', 'discharge-disposition'] },
    ],
    searchInclude: [],
    searchRevInclude: ['Provenance:target'],
  },
  {
    type: 'Immunization',
    supportedProfile: [
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-immunization',
    ],
    searchParam: [
      { name: 'patient', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-immunization-patient', expectation: 'SHALL' },
      { name: 'status', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-immunization-status', expectation: 'MAY' },
      { name: 'date', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-immunization-date', expectation: 'MAY' },
    ],
    combinations: [
      { expectation: 'SHOULD', required: ['patient', 'date'] },
      { expectation: 'SHOULD', required: ['patient', 'status'] },
    ],
    searchInclude: [],
    searchRevInclude: ['Provenance:target'],
  },
  {
    type: 'Procedure',
    supportedProfile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-procedure'],
    searchParam: [
      { name: 'status', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-procedure-status', expectation: 'MAY' },
      { name: 'patient', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-procedure-patient', expectation: 'SHALL' },
      { name: 'date', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-procedure-date', expectation: 'MAY' },
      { name: 'code', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-procedure-code', expectation: 'MAY' },
    ],
    combinations: [
      { expectation: 'SHOULD', required: ['patient', 'code', 'date'] },
      { expectation: 'SHOULD', required: ['patient', 'status'] },
      { expectation: 'SHALL', required: ['patient', 'date'] },
    ],
    searchInclude: [],
    searchRevInclude: ['Provenance:target'],
  },
  {
    type: 'DiagnosticReport',
    supportedProfile: [
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-diagnosticreport-note',
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-diagnosticreport-lab',
    ],
    searchParam: [
      { name: 'status', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-diagnosticreport-status', expectation: 'MAY' },
      { name: 'patient', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-diagnosticreport-patient', expectation: 'SHALL' },
      { name: 'category', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-diagnosticreport-category', expectation: 'MAY' },
      { name: 'code', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-diagnosticreport-code', expectation: 'MAY' },
      { name: 'date', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-diagnosticreport-date', expectation: 'MAY' },
    ],
    combinations: [
      { expectation: 'SHOULD', required: ['patient', 'code', 'date'] },
      { expectation: 'SHOULD', required: ['patient', 'status'] },
      { expectation: 'SHALL', required: ['patient', 'category', 'date'] },
      { expectation: 'SHALL', required: ['patient', 'category'] },
      { expectation: 'SHALL', required: ['patient', 'code'] },
    ],
    searchInclude: [],
    searchRevInclude: ['Provenance:target'],
  },
  {
    type: 'DocumentReference',
    supportedProfile: [
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-documentreference',
    ],
    searchParam: [
      { name: '_id', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-documentreference-id', expectation: 'SHALL' },
      { name: 'status', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-documentreference-status', expectation: 'MAY' },
      { name: 'patient', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-documentreference-patient', expectation: 'SHALL' },
      { name: 'category', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-documentreference-category', expectation: 'MAY' },
      { name: 'type', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-documentreference-type', expectation: 'MAY' },
      { name: 'date', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-documentreference-date', expectation: 'MAY' },
      { name: 'period', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-documentreference-period', expectation: 'MAY' },
    ],
    combinations: [
      { expectation: 'SHALL', required: ['patient', 'type'] },
      { expectation: 'SHOULD', required: ['patient', 'status'] },
      { expectation: 'SHOULD', required: ['patient', 'type', 'period'] },
      { expectation: 'SHALL', required: ['patient', 'category', 'date'] },
      { expectation: 'SHALL', required: ['patient', 'category'] },
    ],
    searchInclude: [],
    searchRevInclude: ['Provenance:target'],
  },
  {
    type: 'CarePlan',
    supportedProfile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-careplan'],
    searchParam: [
      { name: 'category', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-careplan-category', expectation: 'MAY' },
      { name: 'date', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-careplan-date', expectation: 'MAY' },
      { name: 'patient', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-careplan-patient', expectation: 'MAY' },
      { name: 'status', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-careplan-status', expectation: 'MAY' },
    ],
    combinations: [
      { expectation: 'SHOULD', required: ['patient', 'category', 'status'] },
      { expectation: 'SHOULD', required: ['patient', 'category', 'status', 'date'] },
      { expectation: 'SHALL', required: ['patient', 'category'] },
      { expectation: 'SHOULD', required: ['patient', 'category', 'date'] },
    ],
    searchInclude: [],
    searchRevInclude: ['Provenance:target'],
  },
  {
    type: 'Goal',
    supportedProfile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-goal'],
    searchParam: [
      { name: 'lifecycle-status', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-goal-lifecycle-status', expectation: 'MAY' },
      { name: 'patient', type: 'reference', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-goal-patient', expectation: 'SHALL' },
      { name: 'target-date', type: 'date', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-goal-target-date', expectation: 'MAY' },
      { name: 'description', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-goal-description', expectation: 'MAY' },
    ],
    combinations: [
      { expectation: 'SHOULD', required: ['patient', 'target-date'] },
      { expectation: 'SHOULD', required: ['patient', 'description'] },
      { expectation: 'SHOULD', required: ['patient', 'lifecycle-status'] },
    ],
    searchInclude: [],
    searchRevInclude: ['Provenance:target'],
  },
  {
    type: 'Practitioner',
    supportedProfile: [
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-practitioner',
    ],
    searchParam: [
      { name: '_id', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-practitioner-id', expectation: 'SHOULD' },
      { name: 'name', type: 'string', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-practitioner-name', expectation: 'SHALL' },
      { name: 'identifier', type: 'token', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-practitioner-identifier', expectation: 'SHALL' },
    ],
    combinations: [],
    searchInclude: [],
    searchRevInclude: [],
  },
  {
    type: 'Organization',
    supportedProfile: [
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-organization',
    ],
    searchParam: [
      { name: 'name', type: 'string', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-organization-name', expectation: 'SHALL' },
      { name: 'address', type: 'string', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-organization-address', expectation: 'SHALL' },
    ],
    combinations: [],
    searchInclude: [],
    searchRevInclude: [],
  },
  {
    type: 'Location',
    supportedProfile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-location'],
    searchParam: [
      { name: 'name', type: 'string', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-location-name', expectation: 'SHALL' },
      { name: 'address', type: 'string', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-location-address', expectation: 'SHALL' },
      { name: 'address-city', type: 'string', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-location-address-city', expectation: 'SHOULD' },
      { name: 'address-state', type: 'string', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-location-address-state', expectation: 'SHOULD' },
      { name: 'address-postalcode', type: 'string', definition: 'http://hl7.org/fhir/us/core/SearchParameter/us-core-location-address-postalcode', expectation: 'SHOULD' },
    ],
    combinations: [],
    searchInclude: [],
    searchRevInclude: [],
  },
  {
    type: 'Medication',
    supportedProfile: [
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-medication',
    ],
    searchParam: [
    ],
    combinations: [],
    searchInclude: [],
    searchRevInclude: [],
  },
  {
    type: 'Provenance',
    supportedProfile: [
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-provenance',
    ],
    searchParam: [
    ],
    combinations: [],
    searchInclude: [],
    searchRevInclude: [],
  },
];
