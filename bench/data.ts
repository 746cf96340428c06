/**
 * Synthetic benchmark data: `patients` Patients and `observations` Observations spread evenly over
 * them, half laboratory (US Core lab) and half vital signs (heart rate, body weight, blood pressure).
 * Deterministic (a seeded PRNG), so two runs store the same data. Everything here is fictional.
 */
import type { Observation, Patient } from '@medplum/fhirtypes';

const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';
const UCUM = 'http://unitsofmeasure.org';
const LOINC = 'http://loinc.org';
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

/** [LOINC, display, UCUM unit, low, high, decimals] */
const LABS: Array<[string, string, string, number, number, number]> = [
  ['2345-7', 'Glucose [Mass/volume] in Serum or Plasma', 'mg/dL', 65, 180, 0],
  ['2160-0', 'Creatinine [Mass/volume] in Serum or Plasma', 'mg/dL', 0.5, 1.6, 2],
  ['4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood', '%', 4.5, 9.5, 1],
  ['718-7', 'Hemoglobin [Mass/volume] in Blood', 'g/dL', 11, 17.5, 1],
  ['2093-3', 'Cholesterol [Mass/volume] in Serum or Plasma', 'mg/dL', 130, 280, 0],
  ['2823-3', 'Potassium [Moles/volume] in Serum or Plasma', 'mmol/L', 3.3, 5.3, 1],
];

/** Mulberry32: small, fast, deterministic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const patientId = (i: number) => `bench-pt-${String(i).padStart(5, '0')}`;

export function benchPatient(i: number): Patient {
  const rnd = prng(1_000_003 * (i + 1));
  const year = 1940 + Math.floor(rnd() * 65);
  const month = 1 + Math.floor(rnd() * 12);
  const day = 1 + Math.floor(rnd() * 28);
  return {
    resourceType: 'Patient',
    meta: { profile: [`${US_CORE}us-core-patient`] },
    identifier: [{ system: 'https://demo.fhir-exchange-gateway.dev/mrn', value: `BENCH-${String(i).padStart(6, '0')}` }],
    active: true,
    name: [{ use: 'official', family: `Benchmark${i}`, given: ['Synthetic'] }],
    gender: rnd() < 0.5 ? 'female' : 'male',
    birthDate: `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`,
  };
}

const round = (v: number, decimals: number) => Math.round(v * 10 ** decimals) / 10 ** decimals;
const cc = (system: string, code: string, display: string) => ({ coding: [{ system, code, display }] });

/**
 * Observation number `n` (0-based) of the whole data set. Observation n belongs to patient
 * n % patients and is that patient's reading number `slot` = floor(n / patients); even slots are
 * laboratory results, odd slots vital signs, so each patient gets half of each.
 */
export function benchObservation(n: number, patients: number): Observation {
  const rnd = prng(7_919 * (n + 1));
  const subject = { reference: `Patient/${patientId(n % patients)}` };
  // One reading per (patient, slot), 18 days apart from 2020-01-01 (100 slots: about 5 years).
  const slot = Math.floor(n / patients);
  const when = new Date(Date.UTC(2020, 0, 1) + slot * 86_400_000 * 18 + Math.floor(rnd() * 36_000_000));
  const effectiveDateTime = when.toISOString().replace('.000Z', 'Z');
  if (slot % 2 === 0) {
    const [code, display, unit, lo, hi, dec] = LABS[Math.floor(slot / 2) % LABS.length]!;
    return {
      resourceType: 'Observation',
      meta: { profile: [`${US_CORE}us-core-observation-lab`] },
      status: 'final',
      category: [cc(CATEGORY, 'laboratory', 'Laboratory')],
      code: cc(LOINC, code, display),
      subject,
      effectiveDateTime,
      issued: effectiveDateTime,
      valueQuantity: { value: round(lo + rnd() * (hi - lo), dec), unit, system: UCUM, code: unit },
    };
  }
  const vitals = [
    () => ({ profile: 'us-core-heart-rate', code: cc(LOINC, '8867-4', 'Heart rate'),
      valueQuantity: { value: 55 + Math.floor(rnd() * 50), unit: 'beats/minute', system: UCUM, code: '/min' } }),
    () => ({ profile: 'us-core-body-weight', code: cc(LOINC, '29463-7', 'Body weight'),
      valueQuantity: { value: round(45 + rnd() * 70, 1), unit: 'kg', system: UCUM, code: 'kg' } }),
    () => ({ profile: 'us-core-blood-pressure', code: cc(LOINC, '85354-9', 'Blood pressure panel with all children optional'),
      component: [
        { code: cc(LOINC, '8480-6', 'Systolic blood pressure'), valueQuantity: { value: 100 + Math.floor(rnd() * 60), unit: 'mmHg', system: UCUM, code: 'mm[Hg]' } },
        { code: cc(LOINC, '8462-4', 'Diastolic blood pressure'), valueQuantity: { value: 60 + Math.floor(rnd() * 35), unit: 'mmHg', system: UCUM, code: 'mm[Hg]' } },
      ] }),
  ];
  const { profile, ...rest } = vitals[Math.floor(slot / 2) % vitals.length]!();
  return {
    resourceType: 'Observation',
    meta: { profile: [`${US_CORE}${profile}`] },
    status: 'final',
    category: [cc(CATEGORY, 'vital-signs', 'Vital Signs')],
    subject,
    effectiveDateTime,
    ...rest,
  } as Observation;
}
