// Building the DOM without HTML strings: every string child becomes a TEXT node, so text from a
// customer (names, subjects, messages) can never become markup. Shared by every console module.

const SVG_NS = 'http://www.w3.org/2000/svg';

// Attributes that could carry script or navigation are checked: only http(s) and same-page links.
const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'xlink:href']);

export function safeUrl(value) {
  try {
    const url = new URL(String(value), window.location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

function setAttr(el, name, value) {
  if (value === undefined || value === null || value === false) return;
  if (name === 'class') {
    el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
  } else if (name === 'dataset') {
    for (const [k, v] of Object.entries(value)) if (v !== undefined && v !== null) el.dataset[k] = v;
  } else if (name.startsWith('on') && typeof value === 'function') {
    el.addEventListener(name.slice(2).toLowerCase(), value);
  } else if (name.startsWith('on')) {
    throw new Error(`dom.h: ${name} must be a function`);
  } else if (URL_ATTRS.has(name)) {
    const url = safeUrl(value);
    if (url) el.setAttribute(name, url);
  } else if (name === 'value' || name === 'checked' || name === 'selected' || name === 'disabled' || name === 'hidden') {
    el[name] = value;
  } else {
    el.setAttribute(name, value === true ? '' : String(value));
  }
}

function append(el, child) {
  if (child === undefined || child === null || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) append(el, c);
  } else if (child instanceof Node) {
    el.appendChild(child);
  } else {
    el.appendChild(document.createTextNode(String(child)));
  }
}

// h('button', {class: 'x', onClick: fn}, 'Label', childNode, [more, children])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) setAttr(el, name, value);
  append(el, children);
  return el;
}

// SVG from fixed, code-owned shapes (icons): never from data.
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) el.setAttribute(name, String(value));
  for (const c of children) if (c) el.appendChild(c);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// Replace an element's children.
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// Text with http(s) links made clickable (as text nodes and anchors, never HTML).
const LINK_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
export function linkify(text) {
  const out = [];
  let last = 0;
  for (const m of String(text ?? '').matchAll(LINK_RE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    const url = safeUrl(m[0]);
    out.push(url ? h('a', {href: url, target: '_blank', rel: 'noopener noreferrer nofollow'}, m[0]) : m[0]);
    last = m.index + m[0].length;
  }
  if (last < String(text ?? '').length) out.push(String(text).slice(last));
  return out;
}
