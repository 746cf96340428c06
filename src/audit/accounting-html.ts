/**
 * An accounting as a page a patient can be handed (`Accept: text/html`): 164.528(b) asks for a "written
 * accounting", so it must read on paper as well as on screen. One self-contained document: no script, no
 * external asset (a restrictive Content-Security-Policy says so even when the page is saved to a file), every
 * value escaped, print CSS that repeats table headers on each page, and a language, headings and table headers
 * that screen readers announce. Nothing about suspensions or excluded counts appears on it (docs/accounting.md).
 */
import type { AccountingLine, AccountingReport, AccountingSummary } from './accounting-types.js';

export interface AccountingHtmlOptions {
  /** The covered entity (or Part 2 program) that provides the accounting. */
  organization?: string;
  /** The patient's name, as the caller has it (the report carries only the id). */
  patientName?: string;
  /**
   * Where to ask questions or to request another report: the office responsible for receiving and processing
   * requests for an accounting (164.530(j)(1)(iii)).
   */
  contact?: { office: string; address?: string; phone?: string; email?: string };
  /** IANA time zone for dates shown (default UTC; the instants stay in each `<time datetime>`). */
  timeZone?: string;
}

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for an element body or a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

const TITLES: Readonly<Record<AccountingReport['kind'], string>> = {
  hipaa: 'Accounting of disclosures of your health information',
  'access-report': 'Access report: disclosures of your health information',
  part2: 'List of disclosures of your substance use disorder records (42 CFR Part 2)',
};

const NOUNS: Readonly<Record<AccountingReport['kind'], string>> = { hipaa: 'accounting', 'access-report': 'report', part2: 'list' };

const CSS = `
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#111;background:#fff;max-width:64rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .5rem}h2{font-size:1.2rem;margin:2rem 0 .5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid #555;padding:.4rem .5rem;text-align:left;vertical-align:top}
th{background:#e8e8e8}
.ba{display:block;font-size:.9em;color:#333}
.meta{color:#333}
@media print{body{margin:0;max-width:none;font-size:11pt}thead{display:table-header-group}tr,th,td{break-inside:avoid}h2{break-after:avoid}}
`.trim();

/** The whole page. Throws RangeError when timeZone is not a known IANA zone. */
export function accountingHtml(report: AccountingReport, opts: AccountingHtmlOptions = {}): string {
  const timeZone = opts.timeZone ?? 'UTC';
  const dateFmt = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  const timeFmt = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const withTime = report.kind === 'access-report';
  const when = (iso: string, time = false) => {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return escapeHtml(iso);
    const text = time ? `${dateFmt.format(d)} ${timeFmt.format(d)}` : dateFmt.format(d);
    return `<time datetime="${escapeHtml(iso)}">${escapeHtml(text)}</time>`;
  };
  const org = opts.organization?.trim() ? escapeHtml(opts.organization.trim()) : undefined;
  const orgName = org ?? 'the organization that gave you this report';
  const title = TITLES[report.kind];
  const zoneNote = timeZone === 'UTC' ? ' Dates are in UTC.' : ` Dates are in the ${escapeHtml(timeZone)} time zone.`;

  const periodText = report.period.start
    ? `from ${when(report.period.start)} to ${when(report.period.end)}`
    : `up to ${when(report.period.end)}`;
  const patient = opts.patientName
    ? `${escapeHtml(opts.patientName)} (record ${escapeHtml(report.patient)})`
    : `record ${escapeHtml(report.patient)}`;

  const parts: string[] = [];
  parts.push(`<h1>${escapeHtml(title)}</h1>`);
  parts.push(`<p class="meta">Patient: ${patient}<br>Period covered: ${periodText}<br>Prepared: ${when(report.generated)} by ${orgName}.${zoneNote}</p>`);
  parts.push(`<p>${intro(report.kind, org)}</p>`);

  // The four 164.528(b)(2) columns; the access report adds who asked and how.
  const headers = [withTime ? 'Date and time' : 'Date', 'Who received the information (name and address)', 'What information was disclosed', 'Purpose of the disclosure'];
  if (withTime) headers.push('Requested by', 'How');
  parts.push('<h2>Disclosures</h2>');
  if (report.entries.length) {
    parts.push(table(headers, 'Disclosures, oldest first', report.entries.map((l) => {
      const cells = [when(l.date, withTime), recipientCell(l), escapeHtml(l.description), escapeHtml(l.purpose)];
      if (l.access) cells.push(escapeHtml(l.access.user ? `${l.access.user} (application ${l.access.clientId})` : `application ${l.access.clientId}`), escapeHtml(CHANNELS[l.access.channel] ?? l.access.channel));
      return cells;
    })));
  } else {
    parts.push(`<p>${report.summaries.length ? 'No other disclosures to list one by one for this period.' : 'There are no disclosures to list for this period.'}</p>`);
  }

  if (report.summaries.length) {
    parts.push('<h2>Repeated disclosures</h2>');
    parts.push('<p>When information was disclosed several times to the same recipient for the same purpose, the law lets us list it once: the first disclosure in full, how many there were, and the date of the last one (45 CFR 164.528(b)(3)).</p>');
    parts.push(table(
      ['First disclosure', 'Who received the information (name and address)', 'What information was disclosed (first disclosure)', 'Purpose of the disclosures', 'Number of disclosures', 'Last disclosure'],
      'Repeated disclosures, by date of the first one',
      report.summaries.map((s: AccountingSummary) => [
        when(s.first.date), recipientCell(s.first), escapeHtml(s.first.description), escapeHtml(s.first.purpose), String(s.count), when(s.lastDate),
      ]),
    ));
  }

  parts.push(`<h2>What this ${NOUNS[report.kind]} does not include</h2>`);
  parts.push(notIncluded(report.kind));

  parts.push('<h2>Questions</h2>');
  parts.push(`<p>${questions(opts, orgName)}</p>`);

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${parts.join('\n')}
</main>
</body>
</html>
`;
}

const CHANNELS: Readonly<Record<string, string>> = {
  read: 'record read', vread: 'record read', history: 'record history', search: 'search', everything: 'full record',
  export: 'bulk export', 'hie-response': 'health information exchange', prescription: 'prescription sent', audit: 'disclosure report',
};

/** `org`: the organization's name, escaped, or undefined (the page then speaks as "we"). */
function intro(kind: AccountingReport['kind'], org: string | undefined): string {
  switch (kind) {
    case 'hipaa':
      return `This accounting lists the times ${org ?? 'we'} disclosed your health information for reasons other than your treatment, payment for your care and health care operations, as the HIPAA Privacy Rule gives you the right to know (45 CFR 164.528). Each line gives the date, who received the information, what it was, and why.`;
    case 'access-report':
      return `This report lists the disclosures of your health information made through the data exchange gateway of ${org ?? 'our organization'} in the period, including those for your treatment, payment for your care and health care operations, with the application or person that asked for it.`;
    case 'part2':
      return 'This list shows the disclosures of your records protected by 42 CFR Part 2 (substance use disorder treatment records) that were made with your written consent, and those made for treatment, payment or health care operations through our electronic health record system (42 CFR 2.24 and 2.25).';
  }
}

function notIncluded(kind: AccountingReport['kind']): string {
  const channel = '<li>Information shared in other ways than through our electronic data exchange gateway (for example on paper or by phone). Ask us if you want those too.</li>';
  switch (kind) {
    case 'hipaa':
      return `<p>The law does not require us to list these disclosures, so this accounting leaves them out:</p>
<ul>
<li>Disclosures for your treatment, to get paid for your care, and for our health care operations.</li>
<li>Disclosures to you or your personal representative.</li>
<li>Disclosures you authorized in writing.</li>
<li>Disclosures of a limited data set, from which your name, address and other direct identifiers were removed.</li>
<li>Disclosures for national security or intelligence purposes.</li>
<li>Disclosures to a correctional institution or a law enforcement official having custody of you.</li>
</ul>
<p>It also leaves out:</p>
<ul>
<li>Disclosures made more than six years before your request, or outside the period you asked for.</li>
${channel}
</ul>
<p>You can ask for an access report, which lists the disclosures for treatment, payment and operations as well. The first accounting you ask for in any 12 months is free.</p>`;
    case 'access-report':
      return `<ul>
<li>Disclosures outside the period shown above.</li>
${channel}
</ul>`;
    case 'part2':
      return `<ul>
<li>Disclosures made without your consent where the law allows it, such as in a medical emergency, for research, for audits or under a court order. Your HIPAA accounting of disclosures lists those the HIPAA Privacy Rule requires.</li>
<li>Disclosures of your other health information, which is not protected by 42 CFR Part 2.</li>
<li>Disclosures made more than three years before your request, or outside the period you asked for.</li>
${channel}
</ul>`;
  }
}

function questions(opts: AccountingHtmlOptions, orgName: string): string {
  const c = opts.contact;
  const intro = 'If you have a question about this document, or think a disclosure is missing or wrong, contact ';
  if (!c) return `${intro}the privacy office of ${orgName}.`;
  const details = [c.address, c.phone && `phone ${c.phone}`, c.email && `email ${c.email}`].filter((x): x is string => !!x);
  return `${intro}${escapeHtml(c.office)}${details.length ? `: ${details.map(escapeHtml).join(', ')}` : ''}.`;
}

function recipientCell(l: AccountingLine): string {
  let html = escapeHtml(l.recipient.name);
  if (l.recipient.address) html += `<br>${escapeHtml(l.recipient.address)}`;
  if (l.recipient.businessAssociate) html += '<span class="ba">(a business associate acting on our behalf)</span>';
  return html;
}

/** Cells are HTML already escaped by the caller. */
function table(headers: string[], caption: string, rows: string[][]): string {
  const head = headers.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table>\n<caption>${escapeHtml(caption)}</caption>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}
