// node --test examples/functions/  (tests/web/test_studio_function.py runs it when node exists)
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const { parseDate } = require('./enroll.js');

const today = { year: 2026, month: 3, day: 5 };

test('the forms people type', () => {
  for (const text of ['March 11', 'march 11th', 'Mar 11', '11 March', '11th of March',
    '3/11', '3-11', '03/11/2026', '3/11/26', '2026-03-11', 'March 11, 2026', ' 11 mar. ']) {
    assert.strictEqual(parseDate(text, { today }), '2026-03-11', text);
  }
});

test('3/11 follows DATE_ORDER', () => {
  assert.strictEqual(parseDate('3/11', { today, order: 'MDY' }), '2026-03-11');
  assert.strictEqual(parseDate('3/11', { today, order: 'DMY' }), '2025-11-03');
  assert.strictEqual(parseDate('11/3', { today, order: 'DMY' }), '2026-03-11');
  assert.strictEqual(parseDate('2026-03-11', { today, order: 'DMY' }), '2026-03-11');
});

test('without a year: the nearest such date', () => {
  const january = { year: 2026, month: 1, day: 2 };
  assert.strictEqual(parseDate('December 30', { today: january }), '2025-12-30');
  assert.strictEqual(parseDate('Jan 9', { today: january }), '2026-01-09');
});

test('what is not a date is null', () => {
  for (const text of ['', 'soon', 'Feb 30', '13/13', '2026-02-29', 'next tuesday', '42',
    null, undefined, 'Marchember 3']) {
    assert.strictEqual(parseDate(text, { today }), null, String(text));
  }
});
