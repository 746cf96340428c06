/**
 * MDM: TXA + OBX (the document body) -> US Core DocumentReference. Identity: TXA-12 unique document
 * number, which HL7 requires and later edits (T04, T08) repeat. Text OBX lines become one text/plain
 * attachment; an ED (encapsulated data) OBX becomes an attachment of its own media type. Other OBX
 * values in the body are written into the text as `label: value unit`, since MDM defines the OBX
 * segments as document content.
 */
import type { Attachment, DocumentReference, DocumentReferenceContent } from '@medplum/fhirtypes';
import { stableId } from '../../../core/ids.js';
import { V2_TABLE, concept } from '../codes.js';
import type { MapContext, Ref } from '../context.js';
import { eiIdentifier } from '../datatypes.js';
import type { Seg } from '../message.js';
import { practitionerRef } from '../actors.js';
import { PROFILES } from '../profiles.js';
import { textAttachment } from './report.js';

/** TXA-2 document types (table 0270) with a LOINC document type. */
const LOINC_TYPE: Readonly<Record<string, [string, string]>> = {
  HP: ['34117-2', 'History and physical note'], DS: ['18842-5', 'Discharge summary'], OP: ['11504-8', 'Surgical operation note'],
  CN: ['11488-4', 'Consult note'], PN: ['28570-0', 'Procedure note'], PR: ['11506-3', 'Progress note'], TS: ['18761-7', 'Transfer summary note'],
  ED: ['34111-5', 'Emergency department note'], DI: ['18748-4', 'Diagnostic imaging study'], SP: ['11526-1', 'Pathology study'], AR: ['18743-5', 'Autopsy report'],
};
/** TXA-17 completion status (table 0271) -> docStatus. */
const DOC_STATUS: Readonly<Record<string, DocumentReference['docStatus']>> = {
  DI: 'preliminary', DO: 'preliminary', IP: 'preliminary', IN: 'preliminary', PA: 'preliminary', AU: 'final', LA: 'final',
};
const TEXT_TYPES = new Set(['TX', 'FT', 'ST', '']);

export function mapDocument(ctx: MapContext, txa: Seg, body: Array<{ obx: Seg; notes: Seg[] }>, patient: Ref, encounter: Ref | undefined): Ref {
  const docId = eiIdentifier(ctx, txa.rep(12), 'document');
  if (!docId) ctx.fail('unique document number is empty: later edits (T04, T08) could not find the document', txa.loc(12), 'content', 'MISSING_FIELD');
  const type = documentType(ctx, txa);

  const lines: string[] = [];
  const attachments: Attachment[] = [];
  for (const { obx, notes } of body) {
    const vt = obx.get(2).toUpperCase();
    if (TEXT_TYPES.has(vt)) lines.push(obx.text(5));
    else if (vt === 'ED') attachments.push(encapsulated(ctx, obx));
    else {
      const label = obx.get(3, 2) || obx.get(3, 1) || `OBX ${obx.get(1)}`;
      const unit = obx.get(6, 2) || obx.get(6, 1);
      lines.push(`${label}: ${obx.get(5, 2) || obx.get(5, 1)}${unit ? ` ${unit}` : ''}`);
      ctx.issue('information', 'OBX_AS_TEXT', `a ${vt} value in the document body is kept as a line of the document text`, obx.label);
    }
    lines.push(...notes.map((n) => n.text(3)));
  }
  const text = lines.join('\n');
  if (text.trim()) attachments.unshift(textAttachment(text, type.text ?? type.coding?.[0]?.display));
  if (!attachments.length) ctx.fail('the document has no content (no OBX with a value)', txa.label, 'content', 'MISSING_FIELD');

  const content: DocumentReferenceContent[] = attachments.map((attachment) => ({ attachment }));
  const date = (ctx.time(txa, 6) ?? ctx.time(txa, 4) ?? ctx.time(txa, 7))?.instant;
  const doc: DocumentReference & { id: string } = {
    resourceType: 'DocumentReference',
    id: stableId('hl7v2', 'DocumentReference', docId!.system, docId!.value),
    masterIdentifier: docId!,
    status: 'current',
    type,
    category: [{ coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category', code: 'clinical-note', display: 'Clinical Note' }] }],
    subject: patient,
    ...(date ? { date } : {}),
    content,
  };
  const docStatus = DOC_STATUS[txa.get(17).toUpperCase()];
  if (docStatus) doc.docStatus = docStatus;
  else if (txa.get(17)) ctx.issue('warning', 'UNKNOWN_VALUE', `document completion status "${txa.get(17)}" is not a table 0271 code`, txa.loc(17));
  const author = [...txa.reps(9), ...txa.reps(5)].map((r) => practitionerRef(ctx, r)).filter((r) => r !== undefined);
  if (author.length) doc.author = author.slice(0, 1);
  const authenticator = practitionerRef(ctx, txa.rep(10)) ?? practitionerRef(ctx, txa.rep(22));
  if (authenticator) doc.authenticator = authenticator;
  const activity = ctx.time(txa, 4);
  if (encounter || activity) doc.context = { ...(encounter ? { encounter: [encounter] } : {}), ...(activity ? { period: { start: activity.dateTime } } : {}) };
  const parent = eiIdentifier(ctx, txa.rep(13), 'document');
  if (parent) doc.relatesTo = [{ code: 'appends', target: { type: 'DocumentReference', identifier: parent } }];
  return ctx.add(doc, PROFILES.DocumentReference, txa.label);
}

/** TXA-2 as a concept: LOINC for the table 0270 codes that have one, plus the table code. */
function documentType(ctx: MapContext, txa: Seg) {
  const rep = txa.rep(2);
  if (!rep) return ctx.fail('document type is empty', txa.loc(2), 'content', 'MISSING_FIELD');
  const code = rep.get(1).toUpperCase();
  const loinc = LOINC_TYPE[code];
  if (loinc && (!rep.get(3) || /^HL70270$/i.test(rep.get(3)))) {
    return { coding: [{ system: 'http://loinc.org', code: loinc[0], display: loinc[1] }, { system: V2_TABLE('0270'), code }], text: rep.get(2) || loinc[1] };
  }
  return concept(ctx, rep, 'TXA-2')!;
}

/** ED: source^type of data^data subtype^encoding^data -> Attachment. */
function encapsulated(ctx: MapContext, obx: Seg): Attachment {
  const rep = obx.rep(5)!;
  const [type, subtype, encoding, data] = [rep.get(2), rep.get(3), rep.get(4).toUpperCase(), rep.text(5)];
  if (encoding !== 'BASE64' && encoding !== 'A') ctx.fail(`encapsulated data encoding "${rep.get(4)}" is not supported (Base64 and A are)`, obx.loc(5), 'content', 'INVALID_VALUE');
  const contentType = subtype.includes('/') ? subtype : type && subtype ? `${mime(type)}/${subtype.toLowerCase()}` : 'application/octet-stream';
  const payload = encoding === 'A' ? Buffer.from(data, 'utf8').toString('base64') : data.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(payload)) ctx.fail('encapsulated data is not valid Base64', obx.loc(5), 'content', 'INVALID_VALUE');
  return { contentType, data: payload };
}

function mime(hl7Type: string): string {
  return ({ AP: 'application', IM: 'image', AU: 'audio', TEXT: 'text', MULTIPART: 'multipart' } as Record<string, string>)[hl7Type.toUpperCase()] ?? 'application';
}
