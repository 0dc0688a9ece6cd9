// A Twilio Function for Studio's *Run Function* widget: enrolls the patient who is
// texting in a dripsms sequence, reading the surgery date the way people type it.
//
// Environment (Functions → Services → Environment Variables):
//   DRIPSMS_URL        https://dripsms.example.org   (no trailing slash needed)
//   DRIPSMS_API_TOKEN  one of dripsms's DRIPSMS_API_TOKENS (sent as a bearer token)
//   DATE_ORDER         MDY (default: "3/11" is March 11) or DMY ("3/11" is 3 November)
//   DRIPSMS_SEQUENCE   the sequence key (default: postop)
//   DEFAULT_TIMEZONE   the patients' IANA zone (default: America/New_York)
//
// Parameters from the widget: phone ({{contact.channel.address}}), first_name, date (the
// patient's text), and optionally timezone and external_id.
//
// Answers: 200 with dripsms's enrollment (the widget's Success); 422 with
// {"error": {"field", "message"}} when the date cannot be read or dripsms refuses the
// input (Fail: the flow asks for the date again); 409 already enrolled; 502 when dripsms
// cannot be reached. Functions stop after 10 s, so dripsms is given 8.

'use strict';

const crypto = require('crypto');

const MONTHS = {
  jan: 1, january: 1, feb: 2, february: 2, mar: 3, march: 3, apr: 4, april: 4,
  may: 5, jun: 6, june: 6, jul: 7, july: 7, aug: 8, august: 8, sep: 9, sept: 9,
  september: 9, oct: 10, october: 10, nov: 11, november: 11, dec: 12, december: 12,
};

function pad(n) {
  return String(n).padStart(2, '0');
}

function valid(year, month, day) {
  if (!(month >= 1 && month <= 12 && day >= 1 && day <= 31)) return false;
  const d = new Date(Date.UTC(year, month - 1, day));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
}

// Without a year: the year that puts the date nearest to today (a surgery date is
// recent or soon), so "12/30" typed on January 2 is last December.
function nearestYear(month, day, today) {
  let best = null;
  for (const year of [today.year - 1, today.year, today.year + 1]) {
    if (!valid(year, month, day)) continue;
    const distance = Math.abs(Date.UTC(year, month - 1, day) -
      Date.UTC(today.year, today.month - 1, today.day));
    if (best === null || distance < best.distance) best = { year, distance };
  }
  return best && best.year;
}

function fullYear(text) {
  const n = Number(text);
  return text.length === 2 ? 2000 + n : n;
}

// "2026-03-11", "March 11", "Mar 11 2026", "11 March", "11th of March, 2026", "3/11",
// "3/11/26", "3-11-2026": the ISO date (YYYY-MM-DD), or null when it cannot be read.
// Numeric day/month order follows `order` ("MDY" or "DMY"); ISO is always year first.
function parseDate(text, { order = 'MDY', today } = {}) {
  const now = today || (() => {
    const d = new Date();
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
  })();
  const clean = String(text || '').trim().toLowerCase()
    .replace(/(\d)(st|nd|rd|th)\b/g, '$1').replace(/\bof\b/g, ' ')
    .replace(/[,.]/g, ' ').replace(/\s+/g, ' ').trim();
  let year, month, day, m;
  if ((m = clean.match(/^(\d{4})-(\d{1,2})-(\d{1,2})$/))) {
    [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  } else if ((m = clean.match(/^([a-z]+) (\d{1,2})(?: (\d{4}))?$/)) && MONTHS[m[1]]) {
    [month, day, year] = [MONTHS[m[1]], Number(m[2]), m[3] && Number(m[3])];
  } else if ((m = clean.match(/^(\d{1,2}) ([a-z]+)(?: (\d{4}))?$/)) && MONTHS[m[2]]) {
    [day, month, year] = [Number(m[1]), MONTHS[m[2]], m[3] && Number(m[3])];
  } else if ((m = clean.match(/^(\d{1,2})[/-](\d{1,2})(?:[/-](\d{2}|\d{4}))?$/))) {
    const [a, b] = [Number(m[1]), Number(m[2])];
    [month, day] = order.toUpperCase() === 'DMY' ? [b, a] : [a, b];
    year = m[3] && fullYear(m[3]);
  } else {
    return null;
  }
  if (!year) year = nearestYear(month, day, now);
  if (!year || !valid(year, month, day)) return null;
  return `${year}-${pad(month)}-${pad(day)}`;
}

function reply(callback, status, body) {
  const response = new Twilio.Response();
  response.setStatusCode(status);
  response.appendHeader('Content-Type', 'application/json');
  response.setBody(body);
  return callback(null, response);
}

exports.parseDate = parseDate;

exports.handler = async function handler(context, event, callback) {
  const order = (context.DATE_ORDER || 'MDY').toUpperCase();
  const anchor = parseDate(event.date, { order });
  if (anchor === null) {
    const example = order === 'DMY' ? '11/3 or 11 March' : '3/11 or March 11';
    return reply(callback, 422, { error: { field: 'anchor', message:
      `we could not read "${String(event.date || '').slice(0, 40)}" as a date; try ${example}` } });
  }
  const base = String(context.DRIPSMS_URL || '').replace(/\/+$/, '');
  const request = {
    sequence: context.DRIPSMS_SEQUENCE || 'postop',
    phone: event.phone,
    timezone: event.timezone || context.DEFAULT_TIMEZONE || 'America/New_York',
    anchor,
    attributes: { first_name: event.first_name },
  };
  if (event.external_id) request.external_id = event.external_id;
  const body = JSON.stringify(request);
  let answer;
  try {
    answer = await fetch(`${base}/v1/enrollments`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${context.DRIPSMS_API_TOKEN}`,
        'Content-Type': 'application/json',
        // A retried widget replays the first answer instead of enrolling twice.
        'Idempotency-Key': `studio-${crypto.createHash('sha256').update(body).digest('hex')}`,
      },
      body,
      signal: AbortSignal.timeout(8000),
    });
  } catch (err) {
    return reply(callback, 502, { error: { field: null, message: 'dripsms could not be reached' } });
  }
  let answered;
  try {
    answered = await answer.json();
  } catch (err) {
    answered = { error: { field: null, message: `dripsms answered ${answer.status}` } };
  }
  if (answer.status === 201 || answer.status === 200) return reply(callback, 200, answered);
  if ([409, 422].includes(answer.status)) return reply(callback, answer.status, answered);
  return reply(callback, 502, answered);
};
