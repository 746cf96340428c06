import { randomUUID } from 'node:crypto';

/** FHIR id: [A-Za-z0-9\-\.]{1,64}. See: https://hl7.org/fhir/R4/datatypes.html#id */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
export const isFhirId = (s: string) => FHIR_ID.test(s);

export const newId = () => randomUUID();
