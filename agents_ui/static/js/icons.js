// Channel and UI icons: fixed SVG shapes owned by this file (never from data), always paired
// with a text label so colour or shape is never the only signal.
import {svg} from './dom.js';

const PATHS = {
  email: 'M3 5h18v14H3z M3 6l9 7 9-7',
  sms: 'M4 4h16v12H9l-5 4z',
  webchat: 'M3 4h13v9H8l-4 3v-3H3z M18 8h3v9h-1v3l-3-3h-6v-2',
  voice: 'M6 3h4l2 5-3 2a11 11 0 0 0 5 5l2-3 5 2v4a2 2 0 0 1-2 2A17 17 0 0 1 4 5a2 2 0 0 1 2-2z',
  api: 'M8 7l-5 5 5 5 M16 7l5 5-5 5 M14 4l-4 16',
  note: 'M5 3h10l4 4v14H5z M14 3v5h5',
  bell: 'M6 16V11a6 6 0 0 1 12 0v5l2 2H4z M10 20a2 2 0 0 0 4 0',
  mute: 'M6 16V11a6 6 0 0 1 12 0v5l2 2H4z M3 3l18 18',
};

export function icon(name, label) {
  const d = PATHS[name] || PATHS.api;
  const el = svg('svg', {viewBox: '0 0 24 24', width: 16, height: 16, class: `icon icon-${name}`,
    'aria-hidden': 'true', focusable: 'false'},
  svg('path', {d, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.8, 'stroke-linejoin': 'round', 'stroke-linecap': 'round'}));
  if (label) el.setAttribute('data-label', label);
  return el;
}

export const CHANNELS = ['email', 'sms', 'webchat', 'voice', 'api'];
