// Translations: one merged catalogue per language from /i18n/<lang>.json. Keys are flat
// ("inbox.view.mine"); a value may be {"one": ..., "other": ...} chosen by Intl.PluralRules.

let catalogue = {};
let current = document.documentElement.lang || 'en';
let plural = new Intl.PluralRules(current);

export async function loadCatalogue(language = current) {
  const resp = await fetch(`/i18n/${encodeURIComponent(language)}.json`, {credentials: 'same-origin'});
  if (!resp.ok) throw new Error(`translations for ${language}: HTTP ${resp.status}`);
  catalogue = await resp.json();
  current = language;
  plural = new Intl.PluralRules(current);
  return catalogue;
}

export function lang() { return current; }

export function t(key, vars) {
  let text = catalogue[key];
  if (text === undefined) return key;
  if (typeof text === 'object') {
    const n = vars && typeof vars.count === 'number' ? vars.count : 0;
    text = text[plural.select(n)] ?? text.other ?? key;
  }
  if (vars) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  return text;
}

function asDate(iso) {
  const d = iso instanceof Date ? iso : new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function fmtDateTime(iso) {
  const d = asDate(iso);
  return d ? new Intl.DateTimeFormat(current, {dateStyle: 'medium', timeStyle: 'short'}).format(d) : '';
}

export function fmtTime(iso) {
  const d = asDate(iso);
  if (!d) return '';
  const sameDay = d.toDateString() === new Date().toDateString();
  const opts = sameDay ? {timeStyle: 'short'} : {dateStyle: 'short', timeStyle: 'short'};
  return new Intl.DateTimeFormat(current, opts).format(d);
}

// A file's size ("820 bytes", "14 kB", "2.5 MB"), in the language's own number format.
export function fmtSize(bytes) {
  const [unit, size] = bytes >= 1048576 ? ['megabyte', 1048576] : bytes >= 1024 ? ['kilobyte', 1024] : ['byte', 1];
  const fmt = new Intl.NumberFormat(current, {style: 'unit', unit, unitDisplay: unit === 'byte' ? 'long' : 'short', maximumFractionDigits: 1});
  return fmt.format(bytes / size);
}

const UNITS = [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];

export function fmtRelative(iso, now = Date.now()) {
  const d = asDate(iso);
  if (!d) return '';
  const seconds = Math.round((d.getTime() - now) / 1000);
  const rtf = new Intl.RelativeTimeFormat(current, {numeric: 'auto'});
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'second') return rtf.format(Math.trunc(seconds / size), unit);
  }
  return '';
}

// A waiting time, compact ("5 min", "3 h", "2 d"): rows show how long a customer has waited.
export function fmtDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const [unit, size] = s >= 86400 ? ['day', 86400] : s >= 3600 ? ['hour', 3600] : ['minute', 60];
  const fmt = new Intl.NumberFormat(current, {style: 'unit', unit, unitDisplay: 'short'});
  return s < 60 ? `<${fmt.format(1)}` : fmt.format(Math.floor(s / size));
}
